// Gradient checks with Chainer's algorithm, usable on any device (the conformance suite
// runs them against a vendor's backend).
//
// check_backward compares the analytic directional derivative along one random direction
// r (over all float inputs at once) with central differences computed in float64:
//   numeric  = sum_k <f(x + eps r)_k - f(x - eps r)_k, gy_k> / (2 eps)
//   analytic = sum_i <grad x_i, r_i>
// and requires |numeric - analytic| <= atol + rtol |analytic|.
#pragma once

#include <catena/variable.hpp>

#include <functional>
#include <vector>

namespace catena {
namespace gradient_check {

using Function = std::function<std::vector<Variable>(const std::vector<Variable>&)>;

struct Options {
  double eps = 1e-3;
  double atol = 1e-5;
  double rtol = 1e-4;
  // Inputs that must receive no gradient (integer inputs never do).
  std::vector<bool> no_grads;
  uint32_t seed = 0;  // of the random direction
};

// Chainer's per-dtype defaults for the backward check (float16 is much looser).
Options backward_options_for(Dtype dtype);
Options double_backward_options_for(Dtype dtype);

// Throws catena::Error describing the mismatch. grad_outputs may be empty when f has a
// single one-element output (the gradient is then 1).
void check_backward(const Function& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& grad_outputs,
                    const Options& options = Options());

// Checks the gradients of the gradients: the first-order gradients of the inputs, as
// functions of the inputs and of grad_outputs, against grad_grad_inputs.
void check_double_backward(const Function& f, const std::vector<Tensor>& inputs,
                           const std::vector<Tensor>& grad_outputs, const std::vector<Tensor>& grad_grad_inputs,
                           const Options& options = Options());

}  // namespace gradient_check
}  // namespace catena
