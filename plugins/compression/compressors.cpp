// The compressor registry, reports, and what every compressor shares.
#include <catena/compression.hpp>
#include <catena/config.hpp>
#include <catena/links.hpp>
#include <catena/ops.hpp>

#include "../common/named_registry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace catena {
namespace compression {

std::string Option::str() const {
  if (!is_number_) return text_;
  char b[32];
  std::snprintf(b, sizeof b, "%g", number_);
  return b;
}

namespace {

struct Entry {
  std::vector<std::string> options;
  Factory make;
};

detail::NamedRegistry<Entry>& registry() {
  static detail::NamedRegistry<Entry> r("compressor", {});
  return r;
}

double number_of(const Options& o, const char* key, double fallback, const std::string& who) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (!it->second.is_number())
    throw Error(CT_INVALID_ARGUMENT, who + ": " + key + " must be a number, got '" + it->second.text() + "'");
  return it->second.number();
}

std::string text_of(const Options& o, const char* key, const std::string& fallback, const std::string& who) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (it->second.is_number())
    throw Error(CT_INVALID_ARGUMENT, who + ": " + key + " must be a word, got " + it->second.str());
  return it->second.text();
}

bool registered_in_tree = [] {
  register_compressor("prune", {"level", "scope", "structured", "norm"}, [](const Options& o) -> std::unique_ptr<Compressor> {
    const double level = number_of(o, "level", 0.5, "prune");
    if (number_of(o, "structured", 0, "prune") != 0) {
      if (o.count("scope"))
        throw Error(CT_INVALID_ARGUMENT, "prune: scope is for magnitude pruning; structured pruning is per layer");
      return std::make_unique<StructuredPruner>(level, text_of(o, "norm", "l2", "prune"));
    }
    if (o.count("norm")) throw Error(CT_INVALID_ARGUMENT, "prune: norm is for structured pruning (structured = 1)");
    return std::make_unique<Pruner>(level, text_of(o, "scope", "global", "prune"));
  });
  register_compressor("quantize", {"mode"}, [](const Options& o) -> std::unique_ptr<Compressor> {
    return std::make_unique<Quantizer>(text_of(o, "mode", "dynamic", "quantize"));
  });
  register_compressor("kmeans", {"k", "iterations"}, [](const Options& o) -> std::unique_ptr<Compressor> {
    const double k = number_of(o, "k", 16, "kmeans"), it = number_of(o, "iterations", 30, "kmeans");
    if (k != std::floor(k) || it != std::floor(it)) throw Error(CT_INVALID_ARGUMENT, "kmeans: k and iterations are whole numbers");
    return std::make_unique<KMeans>(int(std::max(-1.0, std::min(k, 1e6))), int(std::max(-1.0, std::min(it, 1e6))));
  });
  register_compressor("cast", {"dtype"}, [](const Options& o) -> std::unique_ptr<Compressor> {
    const std::string d = text_of(o, "dtype", "float16", "cast");
    if (d != "float16" && d != "bfloat16")
      throw Error(CT_INVALID_ARGUMENT, "cast: dtype must be float16 or bfloat16, got '" + d + "'");
    return std::make_unique<Cast>(d == "float16" ? float16 : bfloat16);
  });
  return true;
}();

std::string count_text(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0 && s[i - 1] != '-') out += ',';
    out += s[i];
  }
  return out;
}

std::string bytes_text(uint64_t b) {
  char t[32];
  if (b < 10240) std::snprintf(t, sizeof t, "%llu B", static_cast<unsigned long long>(b));
  else if (b < (uint64_t(10) << 20)) std::snprintf(t, sizeof t, "%.1f KiB", double(b) / 1024);
  else std::snprintf(t, sizeof t, "%.1f MiB", double(b) / 1048576);
  return t;
}

}  // namespace

void register_compressor(const std::string& name, std::vector<std::string> option_names, Factory make) {
  (void)registered_in_tree;
  registry().add(name, Entry{std::move(option_names), std::move(make)});
}

std::unique_ptr<Compressor> create(const std::string& name, const Options& options) {
  (void)registered_in_tree;
  Entry e = registry().find(name);
  for (const auto& [key, value] : options) {
    bool known = false;
    for (const std::string& k : e.options) known = known || k == key;
    if (!known)
      throw Error(CT_INVALID_ARGUMENT, "compressor " + name + " has no option '" + key + "' (it has: " +
                                           detail::join(e.options) + ")");
  }
  return e.make(options);
}

std::vector<std::string> names() {
  (void)registered_in_tree;
  return registry().names();
}

std::vector<std::pair<std::string, Parameter*>> weights(Link& model) {
  std::vector<std::pair<std::string, Parameter*>> out;
  for (auto& [path, p] : model.namedparams()) {
    const size_t slash = path.rfind('/');
    if (path.substr(slash + 1) != "W") continue;
    const std::optional<Shape> shape = p->weight_shape();
    if (shape && shape->ndim() >= 2) out.push_back({path, p});
  }
  return out;
}

namespace {

int64_t count_nonzero(const Tensor& t) {
  const Tensor zero = Tensor::zeros(Shape{}, t.dtype(), t.device());
  return ops::sum(ops::compare("core.not_equal", t, zero).astype(int64)).to_vector<int64_t>()[0];
}

}  // namespace

Parameter* layer_weights(Link* layer, bool grouped) {
  if (auto* linear = dynamic_cast<L::Linear*>(layer)) return &linear->W;
  if (auto* conv = dynamic_cast<L::Convolution2D*>(layer))
    if (grouped || conv->options().groups == 1) return &conv->W;
  return nullptr;
}

uint64_t stored_bytes(const Parameter& p) {
  if (const Parameter::Int8* q = p.quantized()) {
    const uint64_t n = uint64_t(q->q.numel());
    return (q->binary() ? (n + 7) / 8 + 8 * uint64_t(q->q.ndim()) : n) + 4 * uint64_t(q->scale.numel()) +
           (q->input_scale.defined() ? 4 : 0);
  }
  if (!p.is_initialized()) return 0;
  if (const Parameter::Codebook* c = p.codebook()) {
    const uint64_t n = uint64_t(c->indices.numel()), k = uint64_t(p.array().numel());
    return (k <= 16 ? (n + 1) / 2 : n) + k * p.array().dtype().size() + 8 * uint64_t(c->indices.ndim());
  }
  const uint64_t n = uint64_t(p.array().numel());
  const uint64_t elem = p.storage_dtype() ? p.storage_dtype()->size() : p.array().dtype().size();
  if (!p.mask().defined()) return n * elem;
  const uint64_t kept = uint64_t(count_nonzero(p.mask()));
  return (n + 7) / 8 + kept * elem + 8 * uint64_t(p.array().ndim());
}

namespace {

ParamReport describe_param(const std::string& path, const Parameter& p) {
  ParamReport r;
  r.path = path;
  r.shape = p.weight_shape().value_or(Shape());
  r.elements = r.elements_before = r.shape.numel();
  r.bytes = r.bytes_before = stored_bytes(p);
  if (const Parameter::Int8* q = p.quantized()) {
    r.nonzero = count_nonzero(q->q);
    r.form = q->binary()                 ? "binary"
             : q->input_scale.defined()              ? "int8 (static)"
                                                     : "int8 (dynamic)";
  } else if (p.is_initialized()) {
    auto guard = no_backprop_mode();
    const Tensor w = p.weight().array();
    r.nonzero = count_nonzero(w);
    r.form = p.mask().defined()     ? "pruned"
             : p.codebook()         ? "kmeans (" + std::to_string(p.array().numel()) + ")"
             : p.storage_dtype()    ? p.storage_dtype()->name()
                                    : w.dtype().name();
    if (!p.fake_quant().empty()) r.form += " (qat " + p.fake_quant() + ")";
  }
  return r;
}

}  // namespace

Report describe(Link& model) {
  Report r;
  for (auto& [path, p] : model.namedparams())
    if (p->weight_shape()) r.params.push_back(describe_param(path, *p));
  return r;
}

Report compare(const Report& before, Link& model) {
  Report now = describe(model);
  for (ParamReport& p : now.params)
    for (const ParamReport& b : before.params)
      if (b.path == p.path) {
        p.elements_before = b.elements_before;
        p.bytes_before = b.bytes_before;
      }
  return now;
}

namespace {

template <class T>
T total(const std::vector<ParamReport>& params, T ParamReport::*field) {
  T n = 0;
  for (const ParamReport& p : params) n += p.*field;
  return n;
}

}  // namespace

int64_t Report::elements_before() const { return total(params, &ParamReport::elements_before); }
int64_t Report::elements() const { return total(params, &ParamReport::elements); }
int64_t Report::nonzero() const { return total(params, &ParamReport::nonzero); }
uint64_t Report::bytes_before() const { return total(params, &ParamReport::bytes_before); }
uint64_t Report::bytes() const { return total(params, &ParamReport::bytes); }

std::string Report::table() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %-15s %11s %11s %11s %9s %11s %11s %7s\n", "parameter", "form", "before",
                "elements", "nonzero", "sparsity", "bytes", "before", "ratio");
  out += line;
  auto row = [&](const std::string& name, const std::string& form, int64_t elements_before, int64_t elements,
                 int64_t nonzero, uint64_t bytes, uint64_t before) {
    const double sparsity = elements ? 100.0 * double(elements - nonzero) / double(elements) : 0.0;
    char ratio[16];
    std::snprintf(ratio, sizeof ratio, bytes ? "%.2fx" : "-", bytes ? double(before) / double(bytes) : 0.0);
    std::snprintf(line, sizeof line, "%-28s %-15s %11s %11s %11s %8.1f%% %11s %11s %7s\n", name.c_str(), form.c_str(),
                  count_text(elements_before).c_str(), count_text(elements).c_str(), count_text(nonzero).c_str(),
                  sparsity, bytes_text(bytes).c_str(), bytes_text(before).c_str(), ratio);
    out += line;
  };
  for (const ParamReport& p : params)
    row(p.path.substr(1), p.form, p.elements_before, p.elements, p.nonzero, p.bytes, p.bytes_before);
  row("total", "", elements_before(), elements(), nonzero(), bytes(), bytes_before());
  return out;
}

void bake_masks(Link& model) {
  for (Parameter* p : model.params())
    if (p->mask().defined()) p->set_mask(Tensor());
}

double gradual_level(double initial, double target, int64_t begin, int64_t end, int64_t t) {
  if (t <= begin) return initial;
  if (t >= end || end <= begin) return target;
  const double f = 1.0 - double(t - begin) / double(end - begin);
  return target + (initial - target) * f * f * f;
}

}  // namespace compression
}  // namespace catena
