// The conformance kit's op cases: for each op of api/OPS.md, the dtypes OPS.md allows and
// the shapes and attributes that reach its edges. Inputs are made on the cpu; the runner
// lays them out (contiguous, strided, broadcast, offset) on both devices.
#pragma once

#include <catena/ops.hpp>
#include <catena/tensor.hpp>

#include <functional>
#include <string>
#include <vector>

namespace catena {
namespace conformance {

struct OpCase {
  std::string op;
  std::string dtype;  // the row's dtype label ("float32", "float32->int8")
  std::string what;   // shapes and attributes, for the row
  // The inputs, contiguous on the cpu, from a seed.
  std::function<std::vector<Tensor>(uint32_t seed)> make;
  std::vector<std::pair<Shape, Dtype>> outputs;
  // Outputs the op reads too (the optim.* state): their starting values, made on the cpu.
  std::function<std::vector<Tensor>(uint32_t seed)> preset;
  Attrs attrs;
  double tol = 0;        // |a - b| <= tol (1 + |a|) per element; 0: exact
  bool layouts = true;   // also strided, broadcast and offset inputs
};

std::vector<OpCase> op_cases(bool large);

// Values in [lo, hi) from a fixed generator; integers and bool (and floats when `whole`)
// get whole values.
Tensor values(const Shape& shape, Dtype dtype, uint32_t seed, double lo, double hi, bool whole = false);

}  // namespace conformance
}  // namespace catena
