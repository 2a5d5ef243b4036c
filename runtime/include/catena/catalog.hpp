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
  const char* name;
  bool differentiable;
  // Runs the function on small float32 inputs on `device`; returns its outputs.
  std::function<std::vector<Variable>(Device& device)> run;
};
const std::vector<FunctionProbe>& functions_catalog();

}  // namespace catena
