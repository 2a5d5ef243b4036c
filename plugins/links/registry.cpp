// Links by name and attributes.
#include <catena/links.hpp>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace catena {
namespace links {

namespace {

struct Entry {
  std::vector<std::string> attributes;
  Factory make;
};

std::string canonical(const std::string& name) {
  // "Convolution2D" -> "convolution_2d", "BatchNormalization" -> "batch_normalization".
  static const std::map<std::string, std::string> aliases = {
      {"linear", "linear"},
      {"convolution2d", "convolution_2d"},
      {"deconvolution2d", "deconvolution_2d"},
      {"batchnormalization", "batch_normalization"},
      {"embedid", "embed_id"}};
  std::string lower, squashed;
  for (char c : name) {
    char l = char(std::tolower(static_cast<unsigned char>(c)));
    lower += l == '-' ? '_' : l;
    if (l != '_' && l != '-') squashed += l;
  }
  auto it = aliases.find(squashed);
  return it != aliases.end() ? it->second : lower;
}

double get(const Attributes& a, const char* key, double fallback) {
  auto it = a.find(key);
  return it == a.end() ? fallback : it->second;
}

int64_t need(const Attributes& a, const char* link, const char* key) {
  auto it = a.find(key);
  if (it == a.end()) throw Error(CT_INVALID_ARGUMENT, std::string(link) + ": the attribute '" + key + "' is required");
  return int64_t(it->second);
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, Entry> entries;
  Registry() {
    entries["linear"] = {{"in_size", "out_size", "nobias"}, [](const Attributes& a) -> std::unique_ptr<Link> {
                           int64_t in = int64_t(get(a, "in_size", 0)), out = need(a, "linear", "out_size");
                           bool nobias = get(a, "nobias", 0) != 0;
                           if (in == 0) return std::make_unique<L::Linear>(L::Linear::lazy(), out, nobias);
                           return std::make_unique<L::Linear>(in, out, nobias);
                         }};
    entries["convolution_2d"] = {
        {"in_channels", "out_channels", "ksize", "stride", "pad", "dilate", "groups", "nobias", "cover_all"},
        [](const Attributes& a) -> std::unique_ptr<Link> {
          L::Convolution2D::Options o;
          o.stride = int64_t(get(a, "stride", 1));
          o.pad = int64_t(get(a, "pad", 0));
          o.dilate = int64_t(get(a, "dilate", 1));
          o.groups = int64_t(get(a, "groups", 1));
          o.nobias = get(a, "nobias", 0) != 0;
          o.cover_all = get(a, "cover_all", 0) != 0;
          return std::make_unique<L::Convolution2D>(int64_t(get(a, "in_channels", 0)),
                                                    need(a, "convolution_2d", "out_channels"),
                                                    need(a, "convolution_2d", "ksize"), o);
        }};
    entries["deconvolution_2d"] = {
        {"in_channels", "out_channels", "ksize", "stride", "pad", "dilate", "groups", "nobias"},
        [](const Attributes& a) -> std::unique_ptr<Link> {
          L::Deconvolution2D::Options o;
          o.stride = int64_t(get(a, "stride", 1));
          o.pad = int64_t(get(a, "pad", 0));
          o.dilate = int64_t(get(a, "dilate", 1));
          o.groups = int64_t(get(a, "groups", 1));
          o.nobias = get(a, "nobias", 0) != 0;
          return std::make_unique<L::Deconvolution2D>(int64_t(get(a, "in_channels", 0)),
                                                      need(a, "deconvolution_2d", "out_channels"),
                                                      need(a, "deconvolution_2d", "ksize"), o);
        }};
    entries["batch_normalization"] = {{"size", "decay", "eps", "use_gamma", "use_beta"},
                                      [](const Attributes& a) -> std::unique_ptr<Link> {
                                        return std::make_unique<L::BatchNormalization>(
                                            need(a, "batch_normalization", "size"), get(a, "decay", 0.9),
                                            get(a, "eps", 2e-5), float32, get(a, "use_gamma", 1) != 0,
                                            get(a, "use_beta", 1) != 0);
                                      }};
    entries["embed_id"] = {{"in_size", "out_size", "ignore_label"}, [](const Attributes& a) -> std::unique_ptr<Link> {
                             std::optional<int64_t> ignore;
                             if (a.count("ignore_label")) ignore = int64_t(a.at("ignore_label"));
                             return std::make_unique<L::EmbedID>(need(a, "embed_id", "in_size"),
                                                                 need(a, "embed_id", "out_size"), Initializer(), ignore);
                           }};
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_link(const std::string& name, std::vector<std::string> attribute_names, Factory make) {
  if (!make) throw Error(CT_INVALID_ARGUMENT, "register_link: the factory is empty");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.entries.emplace(canonical(name), Entry{std::move(attribute_names), std::move(make)}).second)
    throw Error(CT_ALREADY_EXISTS, "register_link: '" + name + "' is already registered");
}

std::vector<std::string> names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> out;
  for (auto& e : r.entries) out.push_back(e.first);
  return out;
}

std::unique_ptr<Link> create(const std::string& name, const Attributes& attributes) {
  Entry entry;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.entries.find(canonical(name));
    if (it != r.entries.end()) entry = it->second;
  }
  if (!entry.make) {
    std::string known;
    for (const std::string& n : names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(CT_NOT_FOUND, "unknown link '" + name + "' (known: " + known + ")");
  }
  for (auto& [k, v] : attributes)
    if (std::find(entry.attributes.begin(), entry.attributes.end(), k) == entry.attributes.end()) {
      std::string known;
      for (const std::string& n : entry.attributes) known += (known.empty() ? "" : ", ") + n;
      throw Error(CT_INVALID_ARGUMENT, canonical(name) + " has no attribute '" + k + "' (it has: " + known + ")");
    }
  return entry.make(attributes);
}

}  // namespace links
}  // namespace catena
