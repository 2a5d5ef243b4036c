// The models `catena train` builds, registered by name.
#include <catena/functions.hpp>
#include <catena/models.hpp>

namespace catena {
namespace models {

MLP::MLP(int64_t n_units, int64_t n_out)
    : l1(L::Linear::lazy(), n_units), l2(n_units, n_units), l3(n_units, n_out), n_units_(n_units), n_out_(n_out) {
  register_link("l1", l1);
  register_link("l2", l2);
  register_link("l3", l3);
}

Variable MLP::forward(const Variable& x) {
  Variable h = F::relu(l1(x));
  h = F::relu(l2(h));
  return l3(h);
}

CNN::CNN(int64_t n_units, int64_t n_out)
    : conv1(0, 32, 3, 1, 1), conv2(32, 64, 3, 1, 1), fc1(L::Linear::lazy(), n_units), fc2(n_units, n_out),
      n_units_(n_units), n_out_(n_out) {
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

std::unique_ptr<Link> MLP::make_like() const { return std::make_unique<MLP>(n_units_, n_out_); }
std::unique_ptr<Link> CNN::make_like() const { return std::make_unique<CNN>(n_units_, n_out_); }

Link::Recipe MLP::recipe() const { return {"mlp", {{"n_units", double(n_units_)}, {"n_out", double(n_out_)}}, {}, false}; }
Link::Recipe CNN::recipe() const { return {"cnn", {{"n_units", double(n_units_)}, {"n_out", double(n_out_)}}, {}, false}; }

std::vector<std::string> names() { return {"cnn", "mlp"}; }

std::unique_ptr<Link> create(const std::string& name, const links::Attributes& a) {
  for (auto& [k, v] : a)
    if (k != "n_units" && k != "n_out")
      throw Error(CT_INVALID_ARGUMENT, name + " has no attribute '" + k + "' (it has: n_units, n_out)");
  auto get = [&](const char* k, double d) {
    auto it = a.find(k);
    double v = it == a.end() ? d : it->second;
    if (!(v >= 1)) throw Error(CT_INVALID_ARGUMENT, name + ": " + k + " must be at least 1");
    return int64_t(v);
  };
  if (name == "mlp") return std::make_unique<MLP>(get("n_units", 1000), get("n_out", 10));
  if (name == "cnn") return std::make_unique<CNN>(get("n_units", 128), get("n_out", 10));
  throw Error(CT_NOT_FOUND, "unknown model '" + name + "' (known: cnn, mlp)");
}

}  // namespace models
}  // namespace catena
