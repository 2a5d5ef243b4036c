// The models `catena train` builds, registered by name.
#include <catena/functions.hpp>
#include <catena/models.hpp>

#include <algorithm>

namespace catena {
namespace models {

MLP::MLP(int64_t n_units, int64_t n_out, int64_t n_units2)
    : l1(L::Linear::lazy(), n_units), l2(n_units, n_units2 ? n_units2 : n_units), l3(n_units2 ? n_units2 : n_units, n_out),
      n_out_(n_out) {
  register_link("l1", l1);
  register_link("l2", l2);
  register_link("l3", l3);
}

Variable MLP::forward(const Variable& x) {
  Variable h = F::relu(l1(x));
  h = F::relu(l2(h));
  return l3(h);
}

CNN::CNN(int64_t n_units, int64_t n_out, int64_t channels1, int64_t channels2)
    : conv1(0, channels1, 3, 1, 1), conv2(channels1, channels2, 3, 1, 1), fc1(L::Linear::lazy(), n_units),
      fc2(n_units, n_out), n_out_(n_out) {
  register_link("conv1", conv1);
  register_link("conv2", conv2);
  register_link("fc1", fc1);
  register_link("fc2", fc2);
}

Variable CNN::forward(const Variable& x) {
  if (x.ndim() != 4)
    throw Error(CT_INVALID_ARGUMENT, "cnn: needs images (N, C, H, W), got " + x.shape().str() +
                                         " (load the data set with ndim 3)");
  Variable h = F::max_pooling_2d(F::relu(conv1(x)), 2);
  h = F::max_pooling_2d(F::relu(conv2(h)), 2);
  h = F::relu(fc1(h));
  return fc2(h);
}

std::unique_ptr<Link> MLP::make_like() const {
  const int64_t u1 = l1.out_size(), u2 = l2.out_size();
  return std::make_unique<MLP>(u1, n_out_, u2 == u1 ? 0 : u2);
}
std::unique_ptr<Link> CNN::make_like() const {
  return std::make_unique<CNN>(fc1.out_size(), n_out_, conv1.W.weight_shape().value_or(Shape{32})[0],
                               conv2.W.weight_shape().value_or(Shape{64})[0]);
}

// The sizes come from the layers themselves, so a model that structured pruning shrank
// is described as it is.
Link::Recipe MLP::recipe() const {
  Recipe r{"mlp", {{"n_units", double(l1.out_size())}, {"n_out", double(n_out_)}}, {}, false};
  if (l2.out_size() != l1.out_size()) r.attributes["n_units2"] = double(l2.out_size());
  return r;
}
Link::Recipe CNN::recipe() const {
  Recipe r{"cnn", {{"n_units", double(fc1.out_size())}, {"n_out", double(n_out_)}}, {}, false};
  const int64_t c1 = conv1.W.weight_shape().value_or(Shape{32})[0], c2 = conv2.W.weight_shape().value_or(Shape{64})[0];
  if (c1 != 32) r.attributes["channels1"] = double(c1);
  if (c2 != 64) r.attributes["channels2"] = double(c2);
  return r;
}

std::vector<std::string> names() { return {"cnn", "mlp"}; }

std::unique_ptr<Link> create(const std::string& name, const links::Attributes& a) {
  const std::vector<std::string> known =
      name == "cnn" ? std::vector<std::string>{"n_units", "n_out", "channels1", "channels2"}
                    : std::vector<std::string>{"n_units", "n_out", "n_units2"};
  for (auto& [k, v] : a)
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (const std::string& n : known) list += (list.empty() ? "" : ", ") + n;
      throw Error(CT_INVALID_ARGUMENT, name + " has no attribute '" + k + "' (it has: " + list + ")");
    }
  auto get = [&](const char* k, double d) {
    auto it = a.find(k);
    double v = it == a.end() ? d : it->second;
    if (!(v >= 1) || v > 1e9) throw Error(CT_INVALID_ARGUMENT, name + ": " + k + " must be a whole number of at least 1");
    return int64_t(v);
  };
  if (name == "mlp") {
    const int64_t u = get("n_units", 1000);
    return std::make_unique<MLP>(u, get("n_out", 10), get("n_units2", double(u)));
  }
  if (name == "cnn")
    return std::make_unique<CNN>(get("n_units", 128), get("n_out", 10), get("channels1", 32), get("channels2", 64));
  throw Error(CT_NOT_FOUND, "unknown model '" + name + "' (known: cnn, mlp)");
}

}  // namespace models
}  // namespace catena
