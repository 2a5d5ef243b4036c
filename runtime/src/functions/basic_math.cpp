// Arithmetic with broadcasting: add, sub, mul, div, neg, pow, scalar forms, maximum,
// minimum, where.
#include "common.hpp"

namespace catena {
namespace F {

using detail::apply1;
using detail::constant;
using detail::scalar_like;

namespace {

class Binary : public FunctionNode {
 public:
  void check_type_forward(const std::vector<Tensor>& x) override {
    detail::expect_same_dtype(*this, x[0], x[1]);
    detail::expect_broadcastable(*this, x[0], x[1]);
  }
};

class FloatBinary : public Binary {
 public:
  void check_type_forward(const std::vector<Tensor>& x) override {
    Binary::check_type_forward(x);
    detail::expect_float(*this, x[0], "x");
  }
};

// The gradients of where(cond, a, b): gy where cond (to a) or where not (to b), each
// summed back to its input's shape.
std::vector<Variable> select_grads(const FunctionNode& f, const Tensor& cond, const std::vector<int>& idx,
                                   const Variable& gy) {
  Variable zero = constant(Tensor::zeros(gy.shape(), gy.dtype(), gy.device()));
  std::vector<Variable> gx(2);
  for (int i : idx) gx[i] = sum_to(i == 0 ? where(cond, gy, zero) : where(cond, zero, gy), f.inputs()[i]->shape);
  return gx;
}

class Add : public Binary {
 public:
  std::string label() const override { return "add"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::add(x[0], x[1])}; }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> gx(2);
    for (int i : idx) gx[i] = sum_to(gy[0], input_shape(i));
    return gx;
  }
};

class Sub : public Binary {
 public:
  std::string label() const override { return "sub"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::sub(x[0], x[1])}; }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> gx(2);
    for (int i : idx) gx[i] = sum_to(i == 0 ? gy[0] : neg(gy[0]), input_shape(i));
    return gx;
  }
};

class Mul : public Binary {
 public:
  std::string label() const override { return "mul"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0, 1});
    return {ops::mul(x[0], x[1])};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> x = get_retained_inputs();
    std::vector<Variable> gx(2);
    for (int i : idx) gx[i] = sum_to(mul(gy[0], x[1 - i]), input_shape(i));
    return gx;
  }
};

class Div : public FloatBinary {
 public:
  std::string label() const override { return "div"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0, 1});
    return {ops::div(x[0], x[1])};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> x = get_retained_inputs();
    std::vector<Variable> gx(2);
    Variable g0 = div(gy[0], x[1]);
    for (int i : idx) gx[i] = sum_to(i == 0 ? g0 : neg(div(mul(g0, x[0]), x[1])), input_shape(i));
    return gx;
  }
};

class Neg : public FunctionNode {
 public:
  std::string label() const override { return "neg"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::neg(x[0])}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {neg(gy[0])};
  }
};

class Pow : public FloatBinary {
 public:
  std::string label() const override { return "pow"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0, 1});
    return {ops::pow(x[0], x[1])};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> x = get_retained_inputs();
    std::vector<Variable> gx(2);
    for (int i : idx) {
      if (i == 0) gx[0] = sum_to(mul(gy[0], mul(x[1], pow(x[0], sub(x[1], constant(scalar_like(1, x[1].array())))))),
                                 input_shape(0));
      else gx[1] = sum_to(mul(gy[0], mul(log(x[0]), pow(x[0], x[1]))), input_shape(1));
    }
    return gx;
  }
};

class PowScalar : public FunctionNode {
 public:
  explicit PowScalar(double p) : p_(p) {}
  std::string label() const override { return "pow"; }
  void check_type_forward(const std::vector<Tensor>& x) override { detail::expect_float(*this, x[0], "x"); }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0});
    return {ops::pow(x[0], scalar_like(p_, x[0]))};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    Variable x = get_retained_inputs()[0];
    return {mul(gy[0], mul_scalar(pow(x, p_ - 1), p_))};
  }

 private:
  double p_;
};

class AddScalar : public FunctionNode {
 public:
  explicit AddScalar(double c) : c_(c) {}
  std::string label() const override { return "add"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::add(x[0], scalar_like(c_, x[0]))}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override { return {gy[0]}; }

 private:
  double c_;
};

class MulScalar : public FunctionNode {
 public:
  explicit MulScalar(double c) : c_(c) {}
  std::string label() const override { return "mul"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::mul(x[0], scalar_like(c_, x[0]))}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {mul_scalar(gy[0], c_)};
  }

 private:
  double c_;
};

class RsubScalar : public FunctionNode {
 public:
  explicit RsubScalar(double c) : c_(c) {}
  std::string label() const override { return "sub"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::sub(scalar_like(c_, x[0]), x[0])}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {neg(gy[0])};
  }

 private:
  double c_;
};

class RdivScalar : public FunctionNode {
 public:
  explicit RdivScalar(double c) : c_(c) {}
  std::string label() const override { return "div"; }
  void check_type_forward(const std::vector<Tensor>& x) override { detail::expect_float(*this, x[0], "x"); }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0});
    retain_outputs({0});
    return {ops::div(scalar_like(c_, x[0]), x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    Variable x = get_retained_inputs()[0], y = get_retained_outputs()[0];
    return {neg(div(mul(gy[0], y), x))};
  }

 private:
  double c_;
};

// maximum / minimum: the gradient goes to the chosen operand (to a on ties).
class Extremum : public Binary {
 public:
  explicit Extremum(bool is_max) : max_(is_max) {}
  std::string label() const override { return max_ ? "maximum" : "minimum"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    cond_ = max_ ? ops::compare("core.greater_equal", x[0], x[1]) : ops::compare("core.less_equal", x[0], x[1]);
    return {max_ ? ops::maximum(x[0], x[1]) : ops::minimum(x[0], x[1])};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    return select_grads(*this, cond_, idx, gy[0]);
  }

 private:
  bool max_;
  Tensor cond_;
};

class Where : public FunctionNode {
 public:
  explicit Where(Tensor cond) : cond_(std::move(cond)) {}
  std::string label() const override { return "where"; }
  void check_type_forward(const std::vector<Tensor>& x) override {
    detail::expect_same_dtype(*this, x[0], x[1]);
    if (!cond_.dtype().is_bool()) throw Error(CT_INVALID_ARGUMENT, "where: condition must be bool, got " + cond_.dtype().name());
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    return {ops::where(cond_, x[0], x[1])};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    return select_grads(*this, cond_, idx, gy[0]);
  }

 private:
  Tensor cond_;
};

}  // namespace

namespace {

// When nothing will be recorded, the arithmetic operators skip the function node: the
// array op runs directly. If it refuses its operands, the full path runs instead, so the
// error names the function as Chainer's would ("add: ...").
template <class Fn>
Variable arithmetic(Tensor (*op)(const Tensor&, const Tensor&), const Variable& a, const Variable& b) {
  if (a.defined() && b.defined() && !FunctionNode::would_record({a, b})) {
    try {
      auto impl = std::allocate_shared<VariableImpl>(PoolAllocator<VariableImpl>());
      impl->data = op(a.array(), b.array());
      impl->requires_grad = (a.requires_grad() || b.requires_grad()) && impl->data.dtype().is_float();
      return Variable(std::move(impl));
    } catch (const Error&) {
    }
  }
  return apply1<Fn>({a, b});
}

}  // namespace

Variable add(const Variable& a, const Variable& b) { return arithmetic<Add>(ops::add, a, b); }
Variable sub(const Variable& a, const Variable& b) { return arithmetic<Sub>(ops::sub, a, b); }
Variable mul(const Variable& a, const Variable& b) { return arithmetic<Mul>(ops::mul, a, b); }
Variable div(const Variable& a, const Variable& b) { return arithmetic<Div>(ops::div, a, b); }
Variable neg(const Variable& x) { return apply1<Neg>({x}); }
Variable pow(const Variable& a, const Variable& b) { return apply1<Pow>({a, b}); }
Variable pow(const Variable& x, double p) { return apply1<PowScalar>({x}, p); }
Variable add_scalar(const Variable& x, double c) { return apply1<AddScalar>({x}, c); }
Variable mul_scalar(const Variable& x, double c) { return apply1<MulScalar>({x}, c); }
Variable rsub_scalar(double c, const Variable& x) { return apply1<RsubScalar>({x}, c); }
Variable rdiv_scalar(double c, const Variable& x) { return apply1<RdivScalar>({x}, c); }
Variable maximum(const Variable& a, const Variable& b) { return apply1<Extremum>({a, b}, true); }
Variable minimum(const Variable& a, const Variable& b) { return apply1<Extremum>({a, b}, false); }
Variable where(const Tensor& condition, const Variable& a, const Variable& b) {
  return apply1<Where>({a, b}, condition);
}

Variable add(const std::vector<Variable>& xs) {
  if (xs.empty()) throw Error(CT_INVALID_ARGUMENT, "add: no operands");
  Variable y = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) y = add(y, xs[i]);
  return y;
}

}  // namespace F
}  // namespace catena
