// lstm, with Chainer's gate layout.
#include "common.hpp"

namespace catena {
namespace F {

std::pair<Variable, Variable> lstm(const Variable& c_prev, const Variable& x) {
  if (x.ndim() < 2 || x.shape()[1] % 4 != 0)
    throw Error(CT_INVALID_ARGUMENT, "lstm: x must be (N, 4 * units, ...), got " + x.shape().str());
  int64_t n = x.shape()[0], units = x.shape()[1] / 4;
  if (c_prev.ndim() != x.ndim() || c_prev.shape()[1] != units || c_prev.shape()[0] < n)
    throw Error(CT_INVALID_ARGUMENT, "lstm: c_prev " + c_prev.shape().str() + " does not match x " + x.shape().str() +
                                         " (c_prev must be (N' >= N, units, ...) with units = x.shape[1] / 4)");
  // (N, 4u, ...) -> (N, u, 4, ...): the gates of each unit are adjacent.
  Shape r{n, units, 4};
  for (int i = 2; i < x.ndim(); ++i) r.push_back(x.shape()[i]);
  Variable g = reshape(x, r);
  auto gate = [&](int k) { return get_item(g, {Index::all(), Index::all(), Index(k)}); };
  Variable a = tanh(gate(0)), i = sigmoid(gate(1)), f = sigmoid(gate(2)), o = sigmoid(gate(3));
  Variable head = c_prev.shape()[0] == n ? c_prev : get_item(c_prev, {Index::range(0, n)});
  Variable c = add(mul(a, i), mul(f, head));
  Variable h = mul(o, tanh(c));
  if (c_prev.shape()[0] > n) c = concat({c, get_item(c_prev, {Index::range(n, {})})}, 0);
  return {c, h};
}

}  // namespace F
}  // namespace catena
