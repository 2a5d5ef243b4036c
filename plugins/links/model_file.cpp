// Whole-model files: the architecture as JSON text next to the parameters.
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/runtime.hpp>

#include "../common/json_text.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <typeinfo>

namespace catena {

namespace {

const char* const kArchitectureKey = "_catena_model/architecture";
const char* const kVersionKey = "_catena_model/version";

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

// --- Writing ---------------------------------------------------------------------------

using detail::json_string;

std::string json_number(double v) {
  if (!std::isfinite(v)) throw Error(CT_INVALID_ARGUMENT, "save_model: an attribute is not a finite number");
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// Throws, naming where, when a part cannot be described.
void check(const Link::Recipe& r, const std::string& where) {
  if (r.type.empty()) {
    if (r.function)
      throw Error(CT_INVALID_ARGUMENT,
                  where + " is a function added as a C++ callable; add it by name (Sequential::add(\"relu\")) to save "
                          "the model whole");
    throw Error(CT_INVALID_ARGUMENT, where + " is not made of registered links");
  }
  for (size_t i = 0; i < r.parts.size(); ++i)
    check(r.parts[i], where + (r.type == "classifier" ? " > predictor" : " > step " + std::to_string(i)));
}

std::string to_json(const Link::Recipe& r) {
  std::string s = "{\"type\": " + json_string(r.type);
  if (r.function) s += ", \"function\": true";
  s += ", \"attributes\": {";
  bool first = true;
  for (auto& [k, v] : r.attributes) {
    s += (first ? "" : ", ") + json_string(k) + ": " + json_number(v);
    first = false;
  }
  s += "}";
  if (!r.parts.empty()) {
    s += ", \"parts\": [";
    for (size_t i = 0; i < r.parts.size(); ++i) s += (i ? ", " : "") + to_json(r.parts[i]);
    s += "]";
  }
  return s + "}";
}

// --- Reading ---------------------------------------------------------------------------

// A small reader for the JSON this file writes (objects, arrays, strings, numbers, true,
// false), with errors that say where.
class Json {
 public:
  Json(const std::string& text, std::string where) : s_(text), where_(std::move(where)) {}

  Link::Recipe recipe(int depth = 0) {
    if (depth > 64) fail("is nested too deeply");
    Link::Recipe r;
    bool has_type = false;
    expect('{');
    if (!peek('}')) {
      do {
        std::string key = string();
        expect(':');
        if (key == "type") {
          r.type = string();
          has_type = true;
        } else if (key == "function") {
          r.function = boolean();
        } else if (key == "attributes") {
          expect('{');
          if (!peek('}')) {
            do {
              std::string name = string();
              expect(':');
              r.attributes[name] = number();
            } while (accept(','));
          }
          expect('}');
        } else if (key == "parts") {
          expect('[');
          if (!peek(']')) {
            do r.parts.push_back(recipe(depth + 1));
            while (accept(','));
          }
          expect(']');
        } else {
          fail("has an unknown field '" + key + "'");
        }
      } while (accept(','));
    }
    expect('}');
    if (!has_type) fail("has a part without a type");
    return r;
  }
  void end() {
    skip();
    if (at_ != s_.size()) fail("has text after the architecture");
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error(CT_DATA_LOSS, where_ + " " + what + " (at byte " + std::to_string(at_) + ")");
  }
  void skip() {
    while (at_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[at_]))) ++at_;
  }
  bool peek(char c) {
    skip();
    if (at_ < s_.size() && s_[at_] == c) return true;
    return false;
  }
  bool accept(char c) {
    if (!peek(c)) return false;
    ++at_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("is not valid: expected '") + c + "'");
  }
  std::string string() {
    expect('"');
    std::string out;
    while (at_ < s_.size() && s_[at_] != '"') {
      char c = s_[at_++];
      if (c == '\\') {
        if (at_ >= s_.size()) break;
        char e = s_[at_++];
        if (e == 'u') {
          if (at_ + 4 > s_.size()) fail("has a broken \\u escape");
          out += char(std::strtol(s_.substr(at_, 4).c_str(), nullptr, 16));
          at_ += 4;
        } else {
          out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
      } else {
        out += c;
      }
    }
    expect('"');
    return out;
  }
  double number() {
    skip();
    const char* begin = s_.c_str() + at_;
    char* end = nullptr;
    double v = std::strtod(begin, &end);
    if (end == begin) fail("is not valid: expected a number");
    at_ += size_t(end - begin);
    return v;
  }
  bool boolean() {
    skip();
    if (s_.compare(at_, 4, "true") == 0) return at_ += 4, true;
    if (s_.compare(at_, 5, "false") == 0) return at_ += 5, false;
    fail("is not valid: expected true or false");
  }

  const std::string& s_;
  std::string where_;
  size_t at_ = 0;
};

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::unique_ptr<Link> build(const Link::Recipe& r, const std::string& where) {
  if (r.function) throw Error(CT_DATA_LOSS, where + ": a function (" + r.type + ") outside a sequential");
  if (r.type == "sequential") {
    auto seq = std::make_unique<L::Sequential>();
    for (const Link::Recipe& part : r.parts) {
      if (part.function) seq->add(part.type, part.attributes);
      else seq->add(build(part, where));
    }
    return seq;
  }
  if (r.type == "classifier") {
    if (r.parts.size() != 1) throw Error(CT_DATA_LOSS, where + ": a classifier needs exactly one part, its predictor");
    auto it = r.attributes.find("compute_accuracy");
    bool accuracy = it == r.attributes.end() || it->second != 0;
    return std::make_unique<L::Classifier>(std::shared_ptr<Link>(build(r.parts[0], where)), L::Classifier::LossFn(),
                                           accuracy);
  }
  if (!r.parts.empty()) throw Error(CT_DATA_LOSS, where + ": the link type '" + r.type + "' has no parts");
  if (listed(models::names(), r.type)) return models::create(r.type, r.attributes);
  return links::create(r.type, r.attributes);  // an unknown type: the error lists the known ones
}

// What a model file holds besides the model: the architecture and the format's version.
struct ModelFile : Serializable {
  Link* model;
  std::string architecture;
  void serialize(Serializer& s) override {
    model->serialize(s);
    int64_t version = kModelFileVersion;
    s(kVersionKey, version);
    s(kArchitectureKey, architecture);
  }
};

}  // namespace

std::string architecture_json(const Link& model) {
  Link::Recipe r = model.recipe();
  const std::string top = "the model (" + demangle(typeid(model).name()) + ")";
  try {
    check(r, top);
  } catch (const Error& e) {
    throw Error(CT_INVALID_ARGUMENT,
                std::string("save_model: the model's forward is known only to its C++ code: ") + e.what() +
                    ". A whole-model file holds models made of registered parts: the in-tree links and models, a "
                    "Sequential of them and of functions added by name, a Classifier; save the parameters alone "
                    "with save_npz, or register the type (links::register_link) and give it a recipe()");
  }
  return to_json(r);
}

std::string architecture_of(const KeyStore& keys) {
  const Tensor* t = keys.find(kArchitectureKey);
  if (!t || t->dtype() != uint8 || t->ndim() != 1) return "";
  std::string text(size_t(t->numel()), '\0');
  if (!text.empty()) t->copy_to_host(&text[0], text.size());
  return text;
}

Link::Recipe parse_architecture(const std::string& text, const std::string& where) {
  Json j(text, where);
  Link::Recipe r = j.recipe();
  j.end();
  return r;
}

std::string describe_architecture(const Link::Recipe& r) {
  std::string out = r.type + (r.function ? " (function)" : "");
  if (!r.attributes.empty()) {
    out += r.function ? "" : " ";
    out += "(";
    bool first = true;
    for (auto& [k, v] : r.attributes) {
      char b[48];
      std::snprintf(b, sizeof b, "%.10g", v);
      out += (first ? "" : ", ") + k + "=" + b;
      first = false;
    }
    out += ")";
  }
  out += "\n";
  for (const Link::Recipe& part : r.parts) {
    std::string sub = describe_architecture(part);
    for (size_t at = 0; at < sub.size();) {
      size_t nl = sub.find('\n', at);
      out += "  " + sub.substr(at, nl - at + 1);
      at = nl + 1;
    }
  }
  return out;
}

std::unique_ptr<Link> build_model(const std::string& text, const std::string& where) {
  return build(parse_architecture(text, where), where);
}

void save_model(const std::string& path, Link& model, const std::string& format, bool compress) {
  ModelFile f;
  f.model = &model;
  f.architecture = architecture_json(model);
  save(path, f, format, compress);
}

namespace {

// The model a whole-model file describes, built with pending parameters (nothing
// allocated): the file's arrays become its values.
std::unique_ptr<Link> model_of(const KeyStore& keys, const std::string& path) {
  if (const Tensor* v = keys.find(kVersionKey)) {
    int64_t version = v->numel() == 1 ? v->astype(int64).to_vector<int64_t>()[0] : -1;
    if (version < 1 || version > kModelFileVersion)
      throw Error(CT_UNIMPLEMENTED, path + ": a whole-model file of version " + std::to_string(version) +
                                        "; this Catena reads up to version " + std::to_string(kModelFileVersion) +
                                        " (a newer Catena wrote it?)");
  }
  const std::string text = architecture_of(keys);
  if (text.empty())
    throw Error(CT_INVALID_ARGUMENT, path + " holds parameters only, not a whole model (no '" +
                                         std::string(kArchitectureKey) +
                                         "'): build the model in C++ and load them with load(), or save with save_model");
  DeferredParameters deferred;
  return build_model(text, path + ": the architecture");
}

// Every parameter of a whole model must have values: one left without (None in the
// file) would run with no values, or with random ones.
void check_complete(Link& model, const std::string& path) {
  for (auto& [name, p] : model.namedparams())
    if (!p->is_initialized() && !p->is_quantized())
      throw Error(CT_DATA_LOSS, path + ": '" + name.substr(1) +
                                    "' has no values in the file (None: a parameter saved uninitialised); a whole model "
                                    "needs every parameter");
}

}  // namespace

std::unique_ptr<Link> load_model(const std::string& path, Device& device) {
  KeyStore keys = read_keys(path);
  std::unique_ptr<Link> model = model_of(keys, path);
  model->to_device(device);
  // The model is new and thrown away on an error: each array is read once, straight into
  // the parameter it becomes.
  load(keys, *model, path, "", true, Serializer::kTakeValues | Serializer::kFreshObject);
  check_complete(*model, path);
  return model;
}

void check_model_file(const KeyStore& keys, const std::string& path) {
  if (architecture_of(keys).empty()) return;
  std::unique_ptr<Link> model = model_of(keys, path);
  // The first pass of a load checks every key, shape and dtype, and reads nothing big.
  Serializer check(const_cast<KeyStore&>(keys), Serializer::Mode::check, path, true, "", Serializer::kFreshObject);
  model->serialize(check);
}

}  // namespace catena
