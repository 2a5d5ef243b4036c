// Files that are well-formed and wrong: a checksum that does not match, headers that
// disagree, entries that overlap, pickled objects, sizes the data does not hold, links
// out of the file. Each is refused with a message naming the file and the key; a file
// that is accepted gives exactly the values that were saved.
#include "../support.hpp"

#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>
#include <catena/serializers.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstring>

using namespace catena;
using catena_test::contains;
using catena_test::error_of;
using catena_test::TempDir;

namespace {

// A small whole model (a classifier over an MLP), initialised.
std::unique_ptr<L::Classifier> small_model(int units = 3) {
  seed(5);
  auto m = std::make_unique<L::Classifier>(std::make_shared<models::MLP>(units, 2));
  m->forward(Variable(catena_test::input(Shape{2, 4}, float32, 3), false));
  return m;
}

// Every key's dtype, shape and bytes, read from the file (every value checked).
struct Snapshot {
  std::vector<std::string> keys;
  std::vector<std::string> values;  // "dtype shape bytes", or "None"
  bool operator==(const Snapshot& o) const { return keys == o.keys && values == o.values; }
};

Snapshot snapshot_of(const KeyStore& k) {
  Snapshot s;
  s.keys = k.keys();
  for (const std::string& key : k.keys()) {
    const Tensor* t = k.find(key);
    if (!t) {
      s.values.push_back("None");
      continue;
    }
    std::string bytes(size_t(t->numel()) * t->dtype().size(), '\0');
    if (!bytes.empty()) t->copy_to_host(&bytes[0], bytes.size());
    s.values.push_back(std::string(t->dtype().name()) + " " + t->shape().str() + " " + bytes);
  }
  return s;
}

uint64_t physical_memory() { return uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGE_SIZE)); }

}  // namespace

TEST_CASE("integrity: damaged and deceptive npz files get an error naming the file and the key") {
  TempDir dir;
  auto model = small_model(8);
  save_model(dir / "model.npz", *model);
  auto r = catena_test::run_python(dir, R"(
import sys, io, zipfile, struct, pickle, numpy as np
d = sys.argv[1]
raw = open(d + '/model.npz', 'rb').read()
z = zipfile.ZipFile(d + '/model.npz')
info = z.getinfo('predictor/l1/W.npy')
data = info.header_offset + 30 + len(info.filename) + len(info.extra)
# One bit flipped inside predictor/l1/W's values.
b = bytearray(raw); b[data + 128 + 9] ^= 0x10
open(d + '/crc.npz', 'wb').write(b)
# A local header that names another key than the central directory.
b = bytearray(raw); at = info.header_offset + 30
b[at:at + 14] = b'predictor/l1/Q'
open(d + '/names.npz', 'wb').write(b)
# A pickled object that is not None, and a whole model whose weight is a pickled None.
def npy(a):
    f = io.BytesIO(); np.save(f, a, allow_pickle=True); return f.getvalue()
entries = {n: z.read(n) for n in z.namelist()}
def rewrite(path, **changes):
    with zipfile.ZipFile(path, 'w') as o:
        for k, v in entries.items(): o.writestr(k, changes.get(k.replace('/', '_')[:-4], v))
rewrite(d + '/object.npz', predictor_l1_W=npy(np.array([{'a': 1}], dtype=object)))
rewrite(d + '/none.npz', predictor_l1_W=npy(np.asarray(None)))
# Two entries whose bytes overlap: a stored entry whose data holds a whole second entry.
inner = io.BytesIO()
with zipfile.ZipFile(inner, 'w') as o: o.writestr('b.npy', npy(np.zeros(4, np.float32)))
inner = inner.getvalue()
inner_local = inner[:inner.find(b'PK\x01\x02')]
with zipfile.ZipFile(d + '/overlap.npz', 'w') as o: o.writestr('a.npy', inner_local)
b = open(d + '/overlap.npz', 'rb').read()
cd, end = b.find(b'PK\x01\x02'), b.find(b'PK\x05\x06')
inner_cd = bytearray(inner[inner.find(b'PK\x01\x02'):inner.find(b'PK\x05\x06')])
a_data = 30 + len('a.npy')
struct.pack_into('<I', inner_cd, 42, a_data)  # b's local header sits inside a's data
tail = bytearray(b[end:]); struct.pack_into('<HHII', tail, 8, 2, 2, end - cd + len(inner_cd), cd)
open(d + '/overlap.npz', 'wb').write(b[:end] + bytes(inner_cd) + bytes(tail))
)");
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (catena_test::FileCase c : std::initializer_list<catena_test::FileCase>{
           {"crc.npz", ": predictor/l1/W: CRC-32 mismatch: the file is damaged"},
           {"names.npz", ": the entry 'predictor/l1/W.npy': the local header names 'predictor/l1/Q.npy' (the file "
                         "name in the central directory and in the header differ)"},
           {"object.npz", ": predictor/l1/W: a pickled Python object; Catena reads only None"},
           {"none.npz", ": 'predictor/l1/W' is None in the file (a parameter saved uninitialised), and has no values "
                        "here either: a whole model needs every parameter"},
           {"overlap.npz", ": the entries 'a.npy' and 'b.npy' overlap (a zip bomb, or a damaged central directory)"},
       }) {
    const std::string file = dir / c.file;
    CAPTURE(file);
    // Loading the whole model (what catena eval and the C API do), and converting it.
    std::string err = error_of([&] { load_model(file, runtime().cpu()); });
    CHECK(contains(err, file + c.says));
    auto convert = catena_test::run_command(catena_test::catena_tool() + " convert " + file + " " + (dir / "out.h5"));
    CHECK(convert.status == 1);
    CHECK(contains(convert.output, c.says));
  }
  CHECK(!std::filesystem::exists(dir / "out.h5"));
  // The damaged weight is refused before anything of a model changed (all or nothing).
  auto target = small_model(8);
  auto before = target->namedparams()[1].second->array().to_vector<float>();
  CHECK(contains(error_of([&] { load(dir / "crc.npz", *target); }), "CRC-32 mismatch"));
  CHECK(target->namedparams()[1].second->array().to_vector<float>() == before);
  // A lazy parameter saved as None stays uninitialised only when asked (non-strict).
  seed(5);
  L::Classifier lazy(std::make_shared<models::MLP>(8, 2));
  CHECK(contains(error_of([&] { load(dir / "none.npz", lazy); }), "load non-strictly to leave it uninitialised"));
  load(dir / "none.npz", lazy, "", /*strict=*/false);
  CHECK(!lazy.namedparams()[0].second->is_initialized());
  auto inspect = catena_test::run_command(catena_test::catena_tool() + " inspect " + (dir / "none.npz"));
  CHECK(contains(inspect.output, "predictor/l1/W              None      -                   - (absent: no values)"));
}

TEST_CASE("integrity: numpy's pickle of None is read as None in every protocol numpy writes, and nothing else") {
  TempDir dir;
  auto r = catena_test::run_python(dir, R"(
import sys, io, zipfile, pickle, numpy as np
d = sys.argv[1]
head = b"{'descr': '|O', 'fortran_order': False, 'shape': (), }"
head += b' ' * (128 - 10 - len(head) - 1) + b'\n'
def npy(body): return b'\x93NUMPY\x01\x00' + bytes([len(head), 0]) + head + body
def numpy2(p):  # the same pickle as numpy 2.x writes it: its module is numpy._core
    b = pickle.dumps(np.asarray(None), protocol=p)
    if p < 4: return b.replace(b'numpy.core.multiarray', b'numpy._core.multiarray')
    b = b.replace(b'\x8c\x15numpy.core.multiarray', b'\x8c\x16numpy._core.multiarray')
    return b[:3] + (int.from_bytes(b[3:11], 'little') + 1).to_bytes(8, 'little') + b[11:]
for p in (2, 3, 4, 5):
    for name, body in (('np1', pickle.dumps(np.asarray(None), protocol=p)), ('np2', numpy2(p))):
        with zipfile.ZipFile('%s/none_%s_%d.npz' % (d, name, p), 'w') as z: z.writestr('x.npy', npy(body))
bad = {'list': pickle.dumps(np.asarray([None], dtype=object), protocol=3),
       'int': pickle.dumps(np.asarray(7, dtype=object), protocol=3),
       'cut': pickle.dumps(np.asarray(None), protocol=3)[:-1],
       'empty': b''}
for name, body in bad.items():
    with zipfile.ZipFile('%s/bad_%s.npz' % (d, name), 'w') as z: z.writestr('x.npy', npy(body))
)");
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* numpy : {"np1", "np2"})
    for (int p = 2; p <= 5; ++p) {
      const std::string file = dir / ("none_" + std::string(numpy) + "_" + std::to_string(p) + ".npz");
      CAPTURE(file);
      CHECK(read_keys(file).is_none("x"));
    }
  for (const char* name : {"list", "int", "cut", "empty"}) {
    const std::string file = dir / ("bad_" + std::string(name) + ".npz");
    CAPTURE(file);
    CHECK(contains(error_of([&] { read_keys(file); }), file + ": x: a pickled Python object; Catena reads only None"));
  }
}

TEST_CASE("integrity: every one-bit flip of a small whole-model npz is refused or gives exactly the saved values") {
  TempDir dir;
  auto model = small_model();
  for (bool compress : {false, true}) {
    CAPTURE(compress);
    const std::string path = dir / (compress ? "z.npz" : "s.npz");
    save_model(path, *model, "npz", compress);
    const std::string bytes = catena_test::read_file(path);
    const Snapshot good = snapshot_of(read_npz_bytes(bytes, "good"));
    int refused = 0, same = 0, other = 0;
    for (size_t at = 0; at < bytes.size(); ++at)
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = bytes;
        flipped[at] = char(flipped[at] ^ (1 << bit));
        try {
          if (snapshot_of(read_npz_bytes(flipped, "flipped")) == good) ++same;
          else {
            ++other;
            MESSAGE("accepted with other values: byte " << at << " bit " << bit);
          }
        } catch (const Error& e) {
          ++refused;
          CHECK(contains(e.what(), "flipped"));
        }
      }
    MESSAGE(bytes.size() * 8 << " flips: " << refused << " refused, " << same << " the same values");
    CHECK(other == 0);
    CHECK(refused > int(bytes.size()) * 6);  // nearly every flip is seen
  }
}

TEST_CASE("integrity: flipped bits in an HDF5 file Catena wrote are refused or give exactly the saved values") {
  TempDir dir;
  auto model = small_model();
  save_model(dir / "m.h5", *model);
  const std::string bytes = catena_test::read_file(dir / "m.h5");
  const Snapshot good = snapshot_of(read_hdf5_bytes(bytes, "good.h5"));
  int refused = 0, same = 0, other = 0;
  // A sample: one bit in every 23rd byte (each read is a reader process).
  for (size_t at = 0; at < bytes.size(); at += 23) {
    std::string flipped = bytes;
    flipped[at] = char(flipped[at] ^ (1 << (at % 8)));
    try {
      if (snapshot_of(read_hdf5_bytes(flipped, "flipped.h5")) == good) ++same;
      else {
        ++other;
        MESSAGE("accepted with other values: byte " << at);
      }
    } catch (const Error& e) {
      ++refused;
      CHECK(contains(e.what(), "flipped.h5"));
    }
  }
  MESSAGE((bytes.size() / 23 + 1) << " flips: " << refused << " refused, " << same << " the same values");
  CHECK(other == 0);
  CHECK(refused > 0);
  // A flip in an array's data is the checksum's error, by name.
  auto r = catena_test::run_python(dir, R"(
import sys, h5py
d = sys.argv[1]
with h5py.File(d + '/m.h5', 'r') as f:
    ds = f['predictor/l1/W']
    assert ds.fletcher32, 'Catena writes the Fletcher-32 filter'
    at = ds.id.get_chunk_info(0).byte_offset
b = bytearray(open(d + '/m.h5', 'rb').read()); b[at + 2] ^= 4
open(d + '/damaged.h5', 'wb').write(b)
)");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(contains(error_of([&] { load_model(dir / "damaged.h5", runtime().cpu()); }),
                 dir / "damaged.h5" + ": 'predictor/l1/W': Fletcher-32 checksum mismatch: the file is damaged"));
}

TEST_CASE("integrity: HDF5 links and storage that leave the file are refused by name") {
  TempDir dir;
  auto r = catena_test::run_python(dir, R"(
import sys, numpy as np, h5py
d = sys.argv[1]
with h5py.File(d + '/other.h5', 'w') as f: f['W'] = np.ones((2, 2), np.float32)
with h5py.File(d + '/external.h5', 'w') as f:
    f['a'] = np.zeros(3, np.float32)
    f['predictor'] = h5py.ExternalLink(d + '/other.h5', '/')
with h5py.File(d + '/soft.h5', 'w') as f:
    f['a'] = np.zeros(3, np.float32)
    f['b'] = h5py.SoftLink('/a')
np.ones(4, np.float32).tofile(d + '/raw.bin')
with h5py.File(d + '/storage.h5', 'w') as f:
    f.create_dataset('W', shape=(4,), dtype='f4', external=[(d + '/raw.bin', 0, 16)])
layout = h5py.VirtualLayout(shape=(2, 2), dtype='f4')
layout[:] = h5py.VirtualSource(d + '/other.h5', 'W', shape=(2, 2))
with h5py.File(d + '/virtual.h5', 'w') as f: f.create_virtual_dataset('V', layout)
)");
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (catena_test::FileCase c : std::initializer_list<catena_test::FileCase>{
           {"external.h5", ": 'predictor' is an external link: it points into another file; Catena reads only what a "
                           "file holds"},
           {"soft.h5", ": 'b' is a soft link; Catena reads only groups and datasets"},
           {"storage.h5", ": 'W' keeps its data in another file (external storage); Catena reads only what a file "
                          "holds"},
           {"virtual.h5", ": 'V' is a virtual dataset: it points into other datasets or files"},
       }) {
    const std::string file = dir / c.file;
    CAPTURE(file);
    CHECK(contains(error_of([&] { read_keys(file); }), file + c.says));
    auto convert = catena_test::run_command(catena_test::catena_tool() + " convert " + file + " " + (dir / "o.npz"));
    CHECK(contains(convert.output, c.says));
  }
}

TEST_CASE("integrity: entries that overlap or claim more than they hold cost no more memory than the file") {
  TempDir dir;
  auto r = catena_test::run_python(dir, R"(
import sys, zipfile, struct, zlib
d = sys.argv[1]
def head(count):
    h = ("{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % count).encode()
    h += b' ' * (64 - (10 + len(h) + 1) % 64) + b'\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h
# 30 central directory records over one deflated 100 MiB entry (a 104 kB file).
with zipfile.ZipFile(d + '/bomb30.npz', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('k00.npy', head(25 << 20) + bytes(100 << 20))
b = open(d + '/bomb30.npz', 'rb').read()
cd, end = b.find(b'PK\x01\x02'), b.find(b'PK\x05\x06')
record = b[cd:end]
records = b''.join(record.replace(b'k00.npy', b'k%02d.npy' % i) for i in range(30))
tail = bytearray(b[end:]); struct.pack_into('<HHII', tail, 8, 30, 30, len(records), cd)
open(d + '/bomb30.npz', 'wb').write(b[:cd] + records + bytes(tail))
# A 4 MB file whose entry and .npy header declare 4 GiB of float32.
data = head(1 << 30) + bytes(range(256)) * (4 << 12)
packed = zlib.compressobj(0, zlib.DEFLATED, -15)
packed = packed.compress(data) + packed.flush()
name = b'W.npy'
declared = len(head(1 << 30)) + (4 << 30)
extra = struct.pack('<HHQQ', 1, 16, declared, len(packed))
local = struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 8, 0, 0x21, 0, 0xffffffff, 0xffffffff, len(name), len(extra)) + name + extra
central = struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 8, 0, 0x21, 0, 0xffffffff, 0xffffffff,
                      len(name), 20, 0, 0, 0, 0, 0) + name + struct.pack('<HHQQ', 1, 16, declared, len(packed))
body = local + packed
end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 1, 1, len(central), len(body), 0)
open(d + '/claims4g.npz', 'wb').write(body + central + end)
)");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const std::string tool = catena_test::catena_tool();
  // The baseline: the tool listing a tiny file.
  auto model = small_model();
  save_model(dir / "tiny.npz", *model);
  const long base = catena_test::run_measured(tool + " inspect " + (dir / "tiny.npz")).peak_rss_kb;
  for (const char* cmd : {"inspect", "convert"}) {
    CAPTURE(cmd);
    const std::string out = std::string(cmd) == "convert" ? " " + (dir / "o.npz") : "";
    auto bomb = catena_test::run_measured(tool + " " + cmd + " " + (dir / "bomb30.npz") + out);
    INFO(bomb.output);
    CHECK(bomb.status == 1);
    CHECK(contains(bomb.output, "bomb30.npz: the entry 'k01.npy': the local header names 'k00.npy'"));
    if (!catena_test::under_sanitizer()) CHECK(bomb.peak_rss_kb < 100 * 1024);  // (a sanitizer's shadow memory is more)
  }
  // (Without MALLOC_PERTURB_, which meson test sets: it makes malloc touch all it gives.)
  auto claims = catena_test::run_measured("env -u MALLOC_PERTURB_ " + tool + " convert " + (dir / "claims4g.npz") +
                                          " " + (dir / "o.npz"));
  INFO(claims.output);
  CHECK(claims.status == 1);
  CHECK(contains(claims.output, "claims4g.npz: W: corrupt compressed data (its stream ends before its declared size)"));
  MESSAGE("peak memory: " << claims.peak_rss_kb / 1024 << " MB refusing the 4 GiB claim (" << base / 1024
                          << " MB listing a tiny file)");
  if (!catena_test::under_sanitizer()) CHECK(claims.peak_rss_kb < 64 * 1024);
  CHECK(!std::filesystem::exists(dir / "o.npz"));
}

TEST_CASE("integrity: a zip64 deflated entry of over 4 GiB is read right") {
  if (physical_memory() < (uint64_t(12) << 30) || catena_test::under_sanitizer()) {
    MESSAGE("skipped: needs 12 GB of memory and a build without sanitizers (it reads a 4.1 GiB array)");
    return;
  }
  TempDir dir;
  // Written with zlib directly: a stream of zeros, never held in memory.
  const uint64_t count = (uint64_t(1) << 30) + 7;  // float32: 4 GiB and 28 bytes
  const std::string head = [&] {
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(count) + ",), }";
    h += std::string((64 - (10 + h.size() + 1) % 64) % 64, ' ') + "\n";
    return std::string("\x93NUMPY\x01\x00", 8) + char(h.size() & 0xff) + char(h.size() >> 8) + h;
  }();
  const uint64_t usize = head.size() + count * 4;
  std::string packed;
  uLong crc = crc32(0, Z_NULL, 0);
  {
    z_stream z{};
    REQUIRE(deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string zeros(1 << 20, '\0'), out(1 << 20, '\0');
    auto pump = [&](const char* p, size_t n, int flush) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(p));
      z.avail_in = uInt(n);
      do {
        z.next_out = reinterpret_cast<Bytef*>(&out[0]);
        z.avail_out = uInt(out.size());
        deflate(&z, flush);
        packed.append(out.data(), out.size() - z.avail_out);
      } while (z.avail_out == 0);
    };
    crc = crc32(crc, reinterpret_cast<const Bytef*>(head.data()), uInt(head.size()));
    pump(head.data(), head.size(), Z_NO_FLUSH);
    for (uint64_t left = count * 4; left > 0;) {
      const size_t n = size_t(std::min<uint64_t>(left, zeros.size()));
      crc = crc32(crc, reinterpret_cast<const Bytef*>(zeros.data()), uInt(n));
      pump(zeros.data(), n, Z_NO_FLUSH);
      left -= n;
    }
    pump(nullptr, 0, Z_FINISH);
    deflateEnd(&z);
  }
  auto le = [](uint64_t v, int bytes) {
    std::string s;
    for (int i = 0; i < bytes; ++i) s += char((v >> (8 * i)) & 0xff);
    return s;
  };
  const std::string name = "big.npy";
  const std::string zip64 = le(1, 2) + le(16, 2) + le(usize, 8) + le(packed.size(), 8);
  const std::string local = le(0x04034b50, 4) + le(45, 2) + le(0, 2) + le(8, 2) + le(0, 4) + le(crc, 4) +
                            le(0xffffffff, 4) + le(0xffffffff, 4) + le(name.size(), 2) + le(zip64.size(), 2) + name +
                            zip64;
  const std::string central = le(0x02014b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(8, 2) + le(0, 4) + le(crc, 4) +
                              le(0xffffffff, 4) + le(0xffffffff, 4) + le(name.size(), 2) + le(zip64.size(), 2) +
                              le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + name + zip64;
  const uint64_t cd = local.size() + packed.size();
  const std::string end = le(0x06054b50, 4) + le(0, 4) + le(1, 2) + le(1, 2) + le(central.size(), 4) + le(cd, 4) + le(0, 2);
  catena_test::write_file(dir / "big.npz", local + packed + central + end);
  packed = std::string();
  KeyStore k = read_keys(dir / "big.npz");
  const Tensor* t = k.find("big");
  REQUIRE(t);
  CHECK(t->shape() == Shape{int64_t(count)});
  const uint64_t* p = static_cast<const uint64_t*>(t->host_data());
  uint64_t any = 0;
  for (uint64_t i = 0; i < count / 2; ++i) any |= p[i];
  CHECK(any == 0);
}

TEST_CASE("integrity: a large deflated entry with sync points reads right; a damaged table or stream is caught") {
  TempDir dir;
  // 40 MB of float32 that deflate cannot shrink much: several sync points.
  const size_t n = size_t(10) << 20;
  std::vector<float> values = catena_test::random_floats(n, 7);
  KeyStore keys;
  keys.put("W", Tensor::from_vector(values, Shape{int64_t(n)}, runtime().cpu()));
  write_npz(dir / "big.npz", keys, /*compress=*/true);
  CHECK(read_keys(dir / "big.npz").find("W")->to_vector<float>() == values);
  // numpy reads the file (it skips Catena's extra field).
  auto np = catena_test::run_python(dir, R"(
import sys, zipfile, numpy as np
d = sys.argv[1]
info = zipfile.ZipFile(d + '/big.npz').getinfo('W.npy')
x, table = info.extra, None
while x:
    i, n = int.from_bytes(x[:2], 'little'), int.from_bytes(x[2:4], 'little')
    if i == 0x4354: table = x[4:4 + n]
    x = x[4 + n:]
assert table and table[0] == 1 and (len(table) - 1) % 16 == 0, 'sync points'
print(len(table) // 16, 'sync points')
raw = open(d + '/big.npz', 'rb').read()
at = raw.rfind(table[1:17])  # the first point, in the central directory
b = bytearray(raw); b[at] ^= 1  # its compressed offset off by one
open(d + '/table.npz', 'wb').write(b)
start = info.header_offset + 30 + len(info.filename)
b = bytearray(raw); b[start + info.compress_size * 3 // 4] ^= 8  # inside a later segment
open(d + '/stream.npz', 'wb').write(b)
a = np.load(d + '/big.npz')['W']
print(a.dtype, a.shape)
)");
  INFO(np.output);
  REQUIRE(np.status == 0);
  CHECK(contains(np.output, "float32 (10485760,)"));
  // A table that does not fit the stream is only a shortcut missed: the values are right.
  CHECK(read_keys(dir / "table.npz").find("W")->to_vector<float>() == values);
  const std::string err = error_of([&] { read_keys(dir / "stream.npz").find("W"); });
  CHECK(contains(err, dir / "stream.npz" + ": W: "));
  CHECK((contains(err, "CRC-32 mismatch") || contains(err, "corrupt compressed data")));
}
