#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/gradient_check.hpp>
#include <catena/ops.hpp>

#include "../internal.hpp"

#include <cmath>
#include <random>
#include <sstream>

namespace catena {
namespace gradient_check {

Options backward_options_for(Dtype dtype) {
  Options o;
  if (dtype == float16 || dtype == bfloat16) o.eps = 0.0625, o.atol = 0.0625, o.rtol = 0.0625;
  else o.atol = 1e-4, o.rtol = 1e-4;
  return o;
}

Options double_backward_options_for(Dtype dtype) {
  Options o;
  if (dtype == float16 || dtype == bfloat16) o.eps = 0.0625, o.atol = 0.0625, o.rtol = 0.0625;
  else o.atol = 1e-4, o.rtol = 1e-3;
  return o;
}

namespace {

std::vector<double> to_doubles(const Tensor& t) { return t.astype(float64).to_vector<double>(); }

double dot(const Tensor& a, const std::vector<double>& b) {
  std::vector<double> av = to_doubles(a);
  double s = 0;
  for (size_t i = 0; i < av.size(); ++i) s += av[i] * b[i];
  return s;
}

std::vector<Variable> run(const Function& f, const std::vector<Tensor>& xs, const std::vector<bool>& grads) {
  std::vector<Variable> vs;
  for (size_t i = 0; i < xs.size(); ++i) vs.emplace_back(xs[i], grads[i]);
  std::vector<Variable> ys = f(vs);
  for (size_t i = 0; i < ys.size(); ++i)
    if (!ys[i].defined()) throw Error(CT_INVALID_ARGUMENT, "check_backward: output " + std::to_string(i) + " is undefined");
  return ys;
}

}  // namespace

void check_backward(const Function& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& grad_outputs,
                    const Options& o) {
  size_t n = inputs.size();
  std::vector<bool> differentiable(n);
  for (size_t i = 0; i < n; ++i)
    differentiable[i] = inputs[i].dtype().is_float() && !(i < o.no_grads.size() && o.no_grads[i]);

  // Analytic side, in the inputs' own dtypes.
  std::vector<Variable> xs;
  for (size_t i = 0; i < n; ++i) xs.emplace_back(inputs[i], differentiable[i]);
  std::vector<Variable> ys = f(xs);
  std::vector<Tensor> gys = grad_outputs;
  if (gys.empty()) {
    if (ys.size() != 1 || ys[0].size() != 1)
      throw Error(CT_INVALID_ARGUMENT, "check_backward: grad_outputs are required unless f has one one-element output");
    gys.push_back(Tensor::full(ys[0].shape(), 1.0, ys[0].dtype(), ys[0].device()));
  }
  if (gys.size() != ys.size())
    throw Error(CT_INVALID_ARGUMENT, "check_backward: " + std::to_string(gys.size()) + " grad_outputs for " +
                                         std::to_string(ys.size()) + " outputs");
  std::vector<Variable> gvs;
  for (size_t k = 0; k < ys.size(); ++k) {
    if (gys[k].shape() != ys[k].shape())
      throw Error(CT_INVALID_ARGUMENT, "check_backward: grad_output " + std::to_string(k) + " has shape " +
                                           gys[k].shape().str() + " but the output has " + ys[k].shape().str());
    gvs.emplace_back(gys[k].astype(ys[k].dtype()), false);
  }
  for (auto& x : xs) x.cleargrad();
  backward(ys, gvs);

  // One random direction over all differentiable inputs (Chainer's construction: every
  // component is at least ~0.1/sqrt(size) in magnitude).
  std::mt19937_64 rng(o.seed ? o.seed : 0x5eed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<std::vector<double>> dirs(n);
  double norm2 = 0;
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!differentiable[i]) continue;
    dirs[i].resize(static_cast<size_t>(inputs[i].numel()));
    for (double& d : dirs[i]) d = normal(rng), norm2 += d * d;
    total += inputs[i].numel();
  }
  if (total == 0) throw Error(CT_INVALID_ARGUMENT, "check_backward: no input to differentiate");
  for (auto& dv : dirs)
    for (double& d : dv) d = std::copysign(std::sqrt(0.99 * d * d / norm2 + 0.01 / double(total)), d);

  double analytic = 0;
  for (size_t i = 0; i < n; ++i) {
    Tensor g = xs[i].grad();
    if (!differentiable[i]) {
      if (g.defined())
        throw Error(CT_FAILED_PRECONDITION, "check_backward: input " + std::to_string(i) +
                                                " must receive no gradient but got one");
      continue;
    }
    if (!g.defined()) continue;  // no path from this input: a zero gradient
    analytic += dot(g, dirs[i]);
  }

  // Numeric side, in float64.
  auto shifted = [&](double delta) {
    std::vector<Tensor> xd(n);
    for (size_t i = 0; i < n; ++i) {
      if (!differentiable[i]) {
        xd[i] = inputs[i];
        continue;
      }
      Tensor x64 = inputs[i].astype(float64);
      Tensor r = Tensor::from_vector(dirs[i], x64.shape(), x64.device());
      xd[i] = ops::add(x64, ops::mul(r, Tensor::full(Shape{}, delta, float64, x64.device())));
    }
    // Inputs require gradients as in the analytic pass: f may itself backpropagate (the
    // first-order gradients of check_double_backward do).
    auto guard = no_backprop_mode();
    return run(f, xd, differentiable);
  };
  std::vector<Variable> yp = shifted(o.eps), ym = shifted(-o.eps);
  double numeric = 0;
  for (size_t k = 0; k < ys.size(); ++k) {
    std::vector<double> a = to_doubles(yp[k].array()), b = to_doubles(ym[k].array()), g = to_doubles(gys[k]);
    for (size_t j = 0; j < a.size(); ++j) numeric += (a[j] - b[j]) * g[j];
  }
  numeric /= 2 * o.eps;
  if (!(std::abs(numeric - analytic) <= o.atol + o.rtol * std::abs(analytic))) {
    std::ostringstream msg;
    msg.precision(10);
    msg << "check_backward: gradients differ along a random direction: numeric " << numeric << ", analytic "
        << analytic << " (|diff| " << std::abs(numeric - analytic) << " > atol " << o.atol << " + rtol " << o.rtol
        << " * |analytic|)";
    throw Error(CT_FAILED_PRECONDITION, msg.str());
  }
}

void check_double_backward(const Function& f, const std::vector<Tensor>& inputs,
                           const std::vector<Tensor>& grad_outputs, const std::vector<Tensor>& grad_grad_inputs,
                           const Options& o) {
  size_t n = inputs.size();
  Function first_order = [&](const std::vector<Variable>& args) {
    std::vector<Variable> xs(args.begin(), args.begin() + static_cast<long>(n));
    std::vector<Variable> gys(args.begin() + static_cast<long>(n), args.end());
    auto guard = force_backprop_mode();
    std::vector<Variable> ys = f(xs);
    for (auto& x : xs) x.cleargrad();
    backward(ys, gys, false, true);
    std::vector<Variable> out;
    for (auto& x : xs) {
      if (!x.dtype().is_float()) continue;
      Variable g = x.grad_var();
      out.push_back(g.defined() ? g : Variable(Tensor::zeros(x.shape(), x.dtype(), x.device()), false));
    }
    return out;
  };
  std::vector<Tensor> args(inputs);
  args.insert(args.end(), grad_outputs.begin(), grad_outputs.end());
  Options oo = o;
  oo.no_grads.resize(args.size(), false);
  check_backward(first_order, args, grad_grad_inputs, oo);
}

}  // namespace gradient_check
}  // namespace catena
