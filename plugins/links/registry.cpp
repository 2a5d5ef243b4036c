// Links by name and attributes.
#include <catena/links.hpp>

#include "../common/named_registry.hpp"

#include <algorithm>

namespace catena {
namespace links {

namespace {

struct Entry {
  std::vector<std::string> attributes;
  Factory make;
};

double get(const Attributes& a, const char* key, double fallback) {
  auto it = a.find(key);
  return it == a.end() ? fallback : it->second;
}

int64_t need(const Attributes& a, const char* link, const char* key) {
  auto it = a.find(key);
  if (it == a.end()) throw Error(CT_INVALID_ARGUMENT, std::string(link) + ": the attribute '" + key + "' is required");
  return int64_t(it->second);
}

// The geometry both convolution links share.
template <class Options>
Options conv_options(const Attributes& a) {
  Options o;
  o.stride = int64_t(get(a, "stride", 1));
  o.pad = int64_t(get(a, "pad", 0));
  o.dilate = int64_t(get(a, "dilate", 1));
  o.groups = int64_t(get(a, "groups", 1));
  o.nobias = get(a, "nobias", 0) != 0;
  return o;
}

detail::NamedRegistry<Entry>& registry() {
  static detail::NamedRegistry<Entry>* r = [] {
    auto* reg = new detail::NamedRegistry<Entry>("link", {{"convolution2d", "convolution_2d"},
                                                          {"deconvolution2d", "deconvolution_2d"},
                                                          {"batchnormalization", "batch_normalization"},
                                                          {"embedid", "embed_id"},
                                                          {"nsteplstm", "n_step_lstm"}});
    reg->add("linear", {{"in_size", "out_size", "nobias"}, [](const Attributes& a) -> std::unique_ptr<Link> {
                           int64_t in = int64_t(get(a, "in_size", 0)), out = need(a, "linear", "out_size");
                           bool nobias = get(a, "nobias", 0) != 0;
                           if (in == 0) return std::make_unique<L::Linear>(L::Linear::lazy(), out, nobias);
                           return std::make_unique<L::Linear>(in, out, nobias);
                         }});
    reg->add("convolution_2d",
             {{"in_channels", "out_channels", "ksize", "stride", "pad", "dilate", "groups", "nobias", "cover_all"},
              [](const Attributes& a) -> std::unique_ptr<Link> {
                auto o = conv_options<L::Convolution2D::Options>(a);
                o.cover_all = get(a, "cover_all", 0) != 0;
                return std::make_unique<L::Convolution2D>(int64_t(get(a, "in_channels", 0)),
                                                          need(a, "convolution_2d", "out_channels"),
                                                          need(a, "convolution_2d", "ksize"), o);
              }});
    reg->add("deconvolution_2d",
             {{"in_channels", "out_channels", "ksize", "stride", "pad", "dilate", "groups", "nobias"},
              [](const Attributes& a) -> std::unique_ptr<Link> {
                return std::make_unique<L::Deconvolution2D>(
                    int64_t(get(a, "in_channels", 0)), need(a, "deconvolution_2d", "out_channels"),
                    need(a, "deconvolution_2d", "ksize"), conv_options<L::Deconvolution2D::Options>(a));
              }});
    reg->add("batch_normalization", {{"size", "decay", "eps", "use_gamma", "use_beta"},
                                     [](const Attributes& a) -> std::unique_ptr<Link> {
                                       return std::make_unique<L::BatchNormalization>(
                                           need(a, "batch_normalization", "size"), get(a, "decay", 0.9),
                                           get(a, "eps", 2e-5), float32, get(a, "use_gamma", 1) != 0,
                                           get(a, "use_beta", 1) != 0);
                                     }});
    reg->add("embed_id", {{"in_size", "out_size", "ignore_label"}, [](const Attributes& a) -> std::unique_ptr<Link> {
                            std::optional<int64_t> ignore;
                            if (a.count("ignore_label")) ignore = int64_t(a.at("ignore_label"));
                            return std::make_unique<L::EmbedID>(need(a, "embed_id", "in_size"),
                                                                need(a, "embed_id", "out_size"), Initializer(), ignore);
                          }});
    reg->add("lstm", {{"in_size", "out_size"}, [](const Attributes& a) -> std::unique_ptr<Link> {
                        return std::make_unique<L::LSTM>(need(a, "lstm", "in_size"), need(a, "lstm", "out_size"));
                      }});
    reg->add("n_step_lstm", {{"n_layers", "in_size", "out_size", "dropout"},
                             [](const Attributes& a) -> std::unique_ptr<Link> {
                               return std::make_unique<L::NStepLSTM>(need(a, "n_step_lstm", "n_layers"),
                                                                     need(a, "n_step_lstm", "in_size"),
                                                                     need(a, "n_step_lstm", "out_size"),
                                                                     get(a, "dropout", 0.0));
                             }});
    return reg;
  }();
  return *r;
}

}  // namespace

void register_link(const std::string& name, std::vector<std::string> attribute_names, Factory make) {
  if (!make) throw Error(CT_INVALID_ARGUMENT, "register_link: the factory is empty");
  registry().add(name, Entry{std::move(attribute_names), std::move(make)});
}

std::vector<std::string> names() { return registry().names(); }

std::unique_ptr<Link> create(const std::string& name, const Attributes& attributes) {
  Entry entry = registry().find(name);
  for (auto& [k, v] : attributes)
    if (std::find(entry.attributes.begin(), entry.attributes.end(), k) == entry.attributes.end())
      throw Error(CT_INVALID_ARGUMENT, registry().canonical(name) + " has no attribute '" + k + "' (it has: " +
                                           detail::join(entry.attributes) + ")");
  return entry.make(attributes);
}

}  // namespace links
}  // namespace catena
