// The .npy header, read strictly and written as numpy writes it; numpy's pickle of None.
#include "npy.hpp"

#include <catena/error.hpp>

#include <cctype>
#include <cstring>
#include <map>
#include <vector>

namespace catena {
namespace npy {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
// numpy refuses headers over 10000 bytes unless told otherwise; Catena allows more, up to
// this.
constexpr uint64_t kMaxHeader = uint64_t(1) << 20;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(CT_DATA_LOSS, where + ": " + what);
}

// A cursor over the header's dict literal.
struct Literal {
  const std::string& s;
  const std::string& where;
  size_t at = 0;

  void space() {
    while (at < s.size() && (s[at] == ' ' || s[at] == '\t')) ++at;
  }
  bool accept(char c) {
    space();
    if (at < s.size() && s[at] == c) return ++at, true;
    return false;
  }
  void expect(char c, const char* what) {
    if (!accept(c)) bad(where, std::string("bad .npy header (expected ") + what + ")");
  }
  std::string text() {
    space();
    if (at >= s.size() || (s[at] != '\'' && s[at] != '"')) bad(where, "bad .npy header (expected a string)");
    const char quote = s[at++];
    const size_t end = s.find(quote, at);
    if (end == std::string::npos) bad(where, "bad .npy header (an unterminated string)");
    std::string out = s.substr(at, end - at);
    if (out.find('\\') != std::string::npos) bad(where, "bad .npy header (an escape in a string)");
    at = end + 1;
    return out;
  }
  bool boolean() {
    space();
    if (s.compare(at, 4, "True") == 0) return at += 4, true;
    if (s.compare(at, 5, "False") == 0) return at += 5, false;
    bad(where, "bad .npy header (fortran_order is not True or False)");
  }
  Shape shape() {
    expect('(', "a shape");
    std::vector<int64_t> dims;
    bool comma = true;  // after '(' or ',', a number may follow
    for (;;) {
      space();
      if (accept(')')) break;
      if (!comma) bad(where, "bad .npy header (expected ',' or ')' in the shape)");
      size_t end = at;
      while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
      if (end == at) bad(where, "bad .npy header (the shape holds something other than whole numbers)");
      if (end - at > 15) bad(where, "implausible shape (an extent of " + std::to_string(end - at) + " digits)");
      dims.push_back(std::stoll(s.substr(at, end - at)));
      at = end;
      comma = accept(',');
    }
    // A one-element tuple needs its comma in Python: "(3)" is the number 3.
    if (dims.size() == 1 && !comma) bad(where, "bad .npy header (the shape is not a tuple)");
    if (dims.size() > size_t(kMaxDims))
      throw Error(CT_UNIMPLEMENTED, where + ": more than " + std::to_string(kMaxDims) + " dimensions");
    uint64_t count = 1;
    for (int64_t d : dims)
      if (d && count > (uint64_t(1) << 40) / uint64_t(d)) bad(where, "implausible shape");
      else count *= uint64_t(d);
    return Shape(dims);
  }
};

const std::map<std::string, Dtype>& types() {
  static const std::map<std::string, Dtype> t = {{"f4", float32}, {"f8", float64}, {"f2", float16}, {"i4", int32},
                                                  {"i8", int64},   {"i1", int8},    {"u1", uint8},   {"b1", bool_}};
  return t;
}

}  // namespace

uint64_t header_size(const char* first, size_t n, const std::string& where) {
  if (n < 10 || std::memcmp(first, kMagic, 6) != 0) bad(where, "not a .npy array");
  const unsigned char* u = reinterpret_cast<const unsigned char*>(first);
  const int major = u[6];
  if (major == 1) return 10 + (uint64_t(u[8]) | uint64_t(u[9]) << 8);
  if (major != 2 && major != 3) throw Error(CT_UNIMPLEMENTED, where + ": .npy format version " + std::to_string(major));
  if (n < 12) bad(where, "truncated .npy header");
  const uint64_t len = uint64_t(u[8]) | uint64_t(u[9]) << 8 | uint64_t(u[10]) << 16 | uint64_t(u[11]) << 24;
  if (len > kMaxHeader) bad(where, "a .npy header of " + std::to_string(len) + " bytes (corrupt?)");
  return 12 + len;
}

Header parse_header(const char* bytes, size_t n, const std::string& where) {
  Header h;
  h.size = header_size(bytes, n, where);
  if (n < h.size) bad(where, "truncated .npy header");
  const size_t start = bytes[6] == 1 ? 10 : 12;
  const std::string text(bytes + start, size_t(h.size) - start);
  Literal p{text, where};
  std::string descr;
  bool have[3] = {false, false, false};
  p.expect('{', "a dict");
  while (!p.accept('}')) {
    const std::string key = p.text();
    p.expect(':', "':'");
    int k = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
    if (k < 0) bad(where, "bad .npy header (an unknown key '" + key + "')");
    if (have[k]) bad(where, "bad .npy header ('" + key + "' twice)");
    have[k] = true;
    p.space();
    if (k == 0) {
      if (p.at < text.size() && text[p.at] == '[') throw Error(CT_UNIMPLEMENTED, where + ": a structured dtype is not supported");
      descr = p.text();
    } else if (k == 1) {
      h.fortran = p.boolean();
    } else {
      h.shape = p.shape();
    }
    if (!p.accept(',')) {
      p.expect('}', "',' or '}'");
      break;
    }
  }
  if (!have[0] || !have[1] || !have[2]) bad(where, "bad .npy header (it needs 'descr', 'fortran_order' and 'shape')");
  for (size_t i = p.at; i < text.size(); ++i)
    if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t' && text[i] != '\0')
      bad(where, "bad .npy header (text after the dict)");
  if (descr == "|O") {
    h.object = true;
    return h;
  }
  const char order = descr.empty() ? '?' : descr[0];
  auto it = types().find(descr.size() > 1 ? descr.substr(1) : "");
  if (it == types().end() || (order != '<' && order != '>' && order != '|' && order != '='))
    throw Error(CT_UNIMPLEMENTED, where + ": dtype '" + descr + "' is not supported");
  h.dtype = it->second;
  h.big_endian = order == '>' && h.dtype.size() > 1;
  return h;
}

namespace {

// numpy's pickle of numpy.asarray(None), for one module path of numpy's multiarray.
std::string protocol2(const std::string& m) {
  static const char tail[] =
      "\n_reconstruct\nq\x00" "cnumpy\nndarray\nq\x01K\x00\x85q\x02" "c_codecs\nencode\nq\x03X\x01\x00\x00\x00"
      "bq\x04X\x06\x00\x00\x00latin1q\x05\x86q\x06Rq\x07\x87q\x08Rq\t(K\x01)cnumpy\ndtype\nq\n"
      "X\x02\x00\x00\x00O8q\x0b\x89\x88\x87q\x0cRq\r(K\x03X\x01\x00\x00\x00|q\x0eNNNJ\xff\xff\xff\xff"
      "J\xff\xff\xff\xffK?tq\x0f" "b\x89]q\x10Natq\x11" "b.";
  return std::string("\x80\x02" "c", 3) + m + std::string(tail, sizeof tail - 1);
}
std::string protocol3(const std::string& m) {
  static const char tail[] =
      "\n_reconstruct\nq\x00" "cnumpy\nndarray\nq\x01K\x00\x85q\x02" "C\x01" "bq\x03\x87q\x04Rq\x05(K\x01)"
      "cnumpy\ndtype\nq\x06X\x02\x00\x00\x00O8q\x07\x89\x88\x87q\x08Rq\t(K\x03X\x01\x00\x00\x00|q\n"
      "NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tq\x0b" "b\x89]q\x0cNatq\r" "b.";
  return std::string("\x80\x03" "c", 3) + m + std::string(tail, sizeof tail - 1);
}
std::string protocol4(const std::string& m, char version) {
  static const char tail[] =
      "\x94\x8c\x0c_reconstruct\x94\x93\x94\x8c\x05numpy\x94\x8c\x07ndarray\x94\x93\x94K\x00\x85\x94"
      "C\x01" "b\x94\x87\x94R\x94(K\x01)h\x03\x8c\x05" "dtype\x94\x93\x94\x8c\x02O8\x94\x89\x88\x87\x94R\x94"
      "(K\x03\x8c\x01|\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t\x94" "b\x89]\x94Nat\x94" "b.";
  const std::string frame = std::string("\x8c", 1) + char(m.size()) + m + std::string(tail, sizeof tail - 1);
  std::string out = std::string("\x80", 1) + version + "\x95";
  for (int i = 0; i < 8; ++i) out += char((uint64_t(frame.size()) >> (8 * i)) & 0xff);
  return out + frame;
}

}  // namespace

bool is_pickled_none(const char* data, size_t n) {
  static const std::vector<std::string> known = [] {
    std::vector<std::string> k;
    for (const char* m : {"numpy.core.multiarray", "numpy._core.multiarray"})
      k.insert(k.end(), {protocol2(m), protocol3(m), protocol4(m, 4), protocol4(m, 5)});
    return k;
  }();
  for (const std::string& k : known)
    if (k.size() == n && std::memcmp(k.data(), data, n) == 0) return true;
  return false;
}

std::string header_for(Dtype d, const Shape& s) {
  std::string descr;
  if (d == float32) descr = "<f4";
  else if (d == float64) descr = "<f8";
  else if (d == float16) descr = "<f2";
  else if (d == int32) descr = "<i4";
  else if (d == int64) descr = "<i8";
  else if (d == int8) descr = "|i1";
  else if (d == uint8) descr = "|u1";
  else if (d == bool_) descr = "|b1";
  else throw Error(CT_UNIMPLEMENTED, std::string("save_npz: numpy has no dtype for ") + d.name());
  std::string shape = "(";
  for (int i = 0; i < s.ndim(); ++i) shape += std::to_string(s[i]) + (s.ndim() == 1 ? "," : i + 1 < s.ndim() ? ", " : "");
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out(kMagic, 6);
  out += char(1), out += char(0), out += char(header.size() & 0xff), out += char(header.size() >> 8);
  return out + header;
}

const std::string& none_file() {
  static const std::string file = [] {
    std::string header = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
    header += std::string(128 - 10 - header.size() - 1, ' ') + "\n";
    std::string out(kMagic, 6);
    out += char(1), out += char(0), out += char(header.size() & 0xff), out += char(header.size() >> 8);
    return out + header + protocol3("numpy.core.multiarray");
  }();
  return file;
}

}  // namespace npy
}  // namespace catena
