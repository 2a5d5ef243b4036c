// dropout, with masks from the counter-based default generator.
#include "common.hpp"

#include <catena/random.hpp>

namespace catena {
namespace F {

using detail::apply1;
using detail::constant;

Variable dropout(const Variable& x, double ratio) {
  if (!(ratio >= 0.0 && ratio < 1.0))
    throw Error(CT_INVALID_ARGUMENT, "dropout: ratio must be in [0, 1), got " + std::to_string(ratio));
  detail::expect_float("dropout", x.array(), "x");
  if (!config().train || ratio == 0.0) return identity(x);
  Tensor u = default_generator().uniform(x.shape(), x.dtype(), x.device());
  Tensor keep = ops::compare("core.greater_equal", u, detail::scalar_like(ratio, u));
  Tensor mask = ops::mul(keep.astype(x.dtype()), detail::scalar_like(1.0 / (1.0 - ratio), u));
  return mul(x, constant(mask));
}

}  // namespace F
}  // namespace catena
