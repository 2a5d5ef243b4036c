// Variable and the graph it records (Chainer's define-by-run autograd).
#pragma once

#include <catena/tensor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace catena {

class FunctionNode;
class VariableNode;
struct VariableImpl;

// A Variable holds an array and, when it was computed by a function while the graph was
// being recorded, its place in that graph. Copies share the same variable.
class Variable {
 public:
  Variable() = default;
  // A leaf. Integer and bool arrays never require gradients.
  explicit Variable(const Tensor& data, bool requires_grad = true, const std::string& name = "");

  bool defined() const { return impl_ != nullptr; }
  const Tensor& array() const;
  const Tensor& data() const { return array(); }
  void set_array(const Tensor& data);  // replace the data, keeping the graph
  const std::string& name() const;
  void set_name(const std::string& name);

  const Shape& shape() const { return array().shape(); }
  int ndim() const { return array().ndim(); }
  int64_t size() const { return array().numel(); }
  Dtype dtype() const { return array().dtype(); }
  Device& device() const { return array().device(); }
  std::string str() const;

  bool requires_grad() const;
  // The gradient, as a Variable (differentiable when computed with double backprop).
  Variable grad_var() const;
  void set_grad_var(const Variable& g);
  Tensor grad() const;  // undefined tensor when there is none
  void set_grad(const Tensor& g);
  void cleargrad();

  std::shared_ptr<FunctionNode> creator() const;
  int rank() const;
  const std::shared_ptr<VariableNode>& node() const;

  // Backpropagate from this variable. A one-element variable without a gradient starts
  // from 1. Leaves accumulate into their gradient; intermediate variables keep theirs only
  // with retain_grad. With enable_double_backprop the gradients are themselves recorded.
  void backward(bool retain_grad = false, bool enable_double_backprop = false) const;
  // Forget the creator (this variable becomes a leaf of the graph).
  void unchain() const;
  // Cut the whole graph behind this variable.
  void unchain_backward() const;

  explicit Variable(std::shared_ptr<VariableImpl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<VariableImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<VariableImpl> impl_;
};

// Backpropagate from several outputs at once, with their gradients (an undefined one
// means "use the output's own grad, or 1 for a one-element output").
void backward(const std::vector<Variable>& outputs, const std::vector<Variable>& grad_outputs = {},
              bool retain_grad = false, bool enable_double_backprop = false);

// The graph node of a variable. Holds no array unless a function retained it.
class VariableNode {
 public:
  std::shared_ptr<FunctionNode> creator;
  int rank = 0;
  bool requires_grad = false;
  Shape shape;
  Dtype dtype;
  Device* device = nullptr;
  Tensor retained;                   // set when a function retained this array
  std::weak_ptr<VariableImpl> variable;  // the user's Variable, while it lives
  // The Variable for this node: the live one, or a new one over the retained array.
  Variable variable_or_retained(const std::shared_ptr<VariableNode>& self) const;
};

struct VariableImpl {
  Tensor data;
  // Created on first need: a variable computed without recording a graph never gets one.
  std::shared_ptr<VariableNode> node;
  Variable grad;
  std::string name;
  bool requires_grad = false;
};

// Variable arithmetic (numpy broadcasting), as in Chainer.
Variable operator+(const Variable& a, const Variable& b);
Variable operator-(const Variable& a, const Variable& b);
Variable operator*(const Variable& a, const Variable& b);
Variable operator/(const Variable& a, const Variable& b);
Variable operator-(const Variable& a);
Variable operator+(const Variable& a, double b);
Variable operator+(double a, const Variable& b);
Variable operator-(const Variable& a, double b);
Variable operator-(double a, const Variable& b);
Variable operator*(const Variable& a, double b);
Variable operator*(double a, const Variable& b);
Variable operator/(const Variable& a, double b);
Variable operator/(double a, const Variable& b);

}  // namespace catena
