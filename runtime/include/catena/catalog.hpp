// What the runtime defines, as data: every core op of api/OPS.md and every function of
// catena::F, each with a small representative call. `catena ops` uses it to show where
// each runs; a conformance suite can use it to exercise a backend.
#pragma once

#include <catena/ops.hpp>
#include <catena/variable.hpp>

#include <functional>
#include <string>
#include <vector>

namespace catena {

struct OpProbe {
  const char* name;
  int version;
  // Representative float32 operands on `device` (outputs preallocated) and attributes.
  std::function<void(Device& device, std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, Attrs& attrs)> make;
};
const std::vector<OpProbe>& core_ops();

struct FunctionProbe {
  struct Input {
    Shape shape;
    double lo = -1, hi = 1;  // the values: distinct, evenly spread (no ties for max and argmax)
  };
  const char* name;
  bool differentiable;
  // The float32 arguments the function is differentiated in.
  std::vector<Input> inputs;
  // The function of those arguments on `device` (other arguments, such as labels, are made
  // there).
  std::function<std::vector<Variable>(Device& device, const std::vector<Variable>& x)> apply;
  // Whether gradient checks apply (not to a function that draws new random numbers on
  // every call), and second-order ones.
  bool gradient_check = true;
  bool double_backward = true;

  // The arguments' values on `device`, and the function run on them.
  std::vector<Tensor> arguments(Device& device) const;
  std::vector<Variable> run(Device& device) const;
};
const std::vector<FunctionProbe>& functions_catalog();

}  // namespace catena
