// Variable and backward: Chainer's graph traversal in rank order.
#include <catena/function_node.hpp>
#include <catena/functions.hpp>
#include <catena/ops.hpp>

#include "../internal.hpp"
#include "../pool.hpp"

#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace catena {

namespace {

const std::shared_ptr<VariableImpl>& need(const std::shared_ptr<VariableImpl>& impl, const char* what) {
  if (!impl) throw Error(CT_INVALID_ARGUMENT, std::string(what) + ": the Variable is undefined");
  return impl;
}

}  // namespace

Variable::Variable(const Tensor& data, bool requires_grad, const std::string& name) {
  if (!data.defined()) throw Error(CT_INVALID_ARGUMENT, "Variable: the array is undefined");
  impl_ = std::allocate_shared<VariableImpl>(PoolAllocator<VariableImpl>());
  impl_->data = data;
  impl_->name = name;
  impl_->requires_grad = requires_grad && data.dtype().is_float();
}

const Tensor& Variable::array() const { return need(impl_, "array")->data; }

void Variable::set_array(const Tensor& data) {
  need(impl_, "set_array");
  impl_->data = data;
  if (VariableNode* n = impl_->node.get()) {
    n->shape = data.shape();
    n->dtype = data.dtype();
    n->device = &data.device();
  }
}

const std::string& Variable::name() const { return need(impl_, "name")->name; }
void Variable::set_name(const std::string& name) { need(impl_, "set_name")->name = name; }

std::string Variable::str() const {
  if (!impl_) return "Variable(undefined)";
  return "Variable(" + (impl_->name.empty() ? "" : impl_->name + ", ") + array().dtype().name() + ", " +
         array().shape().str() + ", " + array().device().name() + ")";
}

bool Variable::requires_grad() const { return need(impl_, "requires_grad")->requires_grad; }
Variable Variable::grad_var() const { return need(impl_, "grad_var")->grad; }

void Variable::set_grad_var(const Variable& g) {
  need(impl_, "set_grad_var");
  if (g.defined() && (g.shape() != shape() || g.dtype() != dtype()))
    throw Error(CT_INVALID_ARGUMENT, "set_grad: the gradient is " + g.dtype().name() + g.shape().str() +
                                         " but the variable is " + dtype().name() + shape().str());
  impl_->grad = g;
}

Tensor Variable::grad() const {
  const Variable& g = need(impl_, "grad")->grad;
  return g.defined() ? g.array() : Tensor();
}

void Variable::set_grad(const Tensor& g) { set_grad_var(g.defined() ? Variable(g, false) : Variable()); }
void Variable::cleargrad() { need(impl_, "cleargrad")->grad = Variable(); }
std::shared_ptr<FunctionNode> Variable::creator() const {
  const auto& n = need(impl_, "creator")->node;
  return n ? n->creator : nullptr;
}

int Variable::rank() const {
  const auto& n = need(impl_, "rank")->node;
  return n ? n->rank : 0;
}

const std::shared_ptr<VariableNode>& Variable::node() const {
  need(impl_, "node");
  if (!impl_->node) {  // a leaf, or a result computed without a graph: its node starts now
    auto n = std::allocate_shared<VariableNode>(PoolAllocator<VariableNode>());
    n->requires_grad = impl_->requires_grad;
    n->shape = impl_->data.shape();
    n->dtype = impl_->data.dtype();
    n->device = &impl_->data.device();
    n->variable = impl_;
    impl_->node = std::move(n);
  }
  return impl_->node;
}

void Variable::backward(bool retain_grad, bool enable_double_backprop) const {
  catena::backward({*this}, {}, retain_grad, enable_double_backprop);
}

void Variable::unchain() const {
  if (const auto& n = need(impl_, "unchain")->node) n->creator.reset();
}

void Variable::unchain_backward() const {
  need(impl_, "unchain_backward");
  std::vector<std::shared_ptr<FunctionNode>> stack;
  std::unordered_set<FunctionNode*> seen;
  if (impl_->node && impl_->node->creator) stack.push_back(impl_->node->creator);
  while (!stack.empty()) {
    auto f = stack.back();
    stack.pop_back();
    if (!seen.insert(f.get()).second) continue;
    for (const auto& in : f->inputs())
      if (in->creator) stack.push_back(in->creator);
    f->unchain();
  }
}

void backward(const std::vector<Variable>& outputs, const std::vector<Variable>& grad_outputs, bool retain_grad,
              bool enable_double_backprop) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw Error(CT_INVALID_ARGUMENT, "backward: " + std::to_string(grad_outputs.size()) + " gradients for " +
                                         std::to_string(outputs.size()) + " outputs");
  UsingConfig mode(&Config::enable_backprop, enable_double_backprop);
  const bool debug = config().debug;

  // Gradients waiting at intermediate nodes.
  std::unordered_map<VariableNode*, Variable> grads;
  std::vector<std::shared_ptr<VariableNode>> keep;  // keeps map keys alive
  struct Item {
    int rank;
    uint64_t seq;
    std::shared_ptr<FunctionNode> f;
    bool operator<(const Item& o) const { return rank != o.rank ? rank < o.rank : seq > o.seq; }
  };
  std::priority_queue<Item> heap;
  std::unordered_set<FunctionNode*> seen;
  uint64_t seq = 0;
  auto push = [&](const std::shared_ptr<FunctionNode>& f) {
    if (f && seen.insert(f.get()).second) heap.push({f->rank(), seq++, f});
  };
  // Summing gradients records a graph only with double backprop; otherwise it is a plain
  // array addition.
  auto sum_grads = [&](const Variable& a, const Variable& b) {
    if (enable_double_backprop) return F::add(a, b);
    return Variable(ops::add(a.array(), b.array()), false);
  };
  auto accumulate = [&](const std::shared_ptr<VariableNode>& node, const Variable& g) {
    auto it = grads.find(node.get());
    if (it == grads.end()) {
      grads.emplace(node.get(), g);
      keep.push_back(node);
    } else {
      it->second = sum_grads(it->second, g);
    }
  };

  for (size_t i = 0; i < outputs.size(); ++i) {
    const Variable& y = outputs[i];
    if (!y.defined()) throw Error(CT_INVALID_ARGUMENT, "backward: output " + std::to_string(i) + " is undefined");
    Variable g = grad_outputs.empty() ? Variable() : grad_outputs[i];
    if (!g.defined()) g = y.grad_var();
    if (!g.defined()) {
      if (y.size() != 1)
        throw Error(CT_INVALID_ARGUMENT, "backward: " + y.str() + " has " + std::to_string(y.size()) +
                                             " elements; set its gradient first (set_grad), or reduce it to one");
      g = Variable(Tensor::full(y.shape(), 1.0, y.dtype(), y.device()), false);
    } else if (g.shape() != y.shape() || g.dtype() != y.dtype()) {
      throw Error(CT_INVALID_ARGUMENT, "backward: the gradient " + g.dtype().name() + g.shape().str() +
                                           " does not match the output " + y.dtype().name() + y.shape().str());
    }
    if (!y.creator()) {
      // A leaf given an explicit gradient (an output that is itself an input, as a
      // first-order gradient of identity is) receives it; otherwise nothing to do.
      bool explicit_grad = !grad_outputs.empty() && grad_outputs[i].defined();
      if (explicit_grad && y.requires_grad()) {
        Variable old = y.grad_var();
        y.impl()->grad = old.defined() ? F::add(old, g) : g;
      }
      continue;
    }
    if (!retain_grad) y.impl()->grad = Variable();
    accumulate(y.node(), g);
    push(y.creator());
  }

  while (!heap.empty()) {
    std::shared_ptr<FunctionNode> f = heap.top().f;
    heap.pop();
    std::vector<Variable> gys(static_cast<size_t>(f->num_outputs()));
    bool any = false;
    for (int i = 0; i < f->num_outputs(); ++i) {
      std::shared_ptr<VariableNode> out = f->output(i);
      if (!out) continue;
      auto it = grads.find(out.get());
      if (it == grads.end()) continue;
      gys[i] = std::move(it->second);
      grads.erase(it);
      any = true;
      if (retain_grad)
        if (auto v = out->variable.lock()) v->grad = gys[i];
    }
    if (!any) continue;
    const auto& ins = f->inputs();
    std::vector<int> targets;
    for (size_t i = 0; i < ins.size(); ++i)
      if (ins[i]->requires_grad) targets.push_back(static_cast<int>(i));
    if (targets.empty()) continue;
    std::vector<Variable> gxs = f->backward(targets, gys);
    bool per_input = gxs.size() == ins.size();
    if (!per_input && gxs.size() != targets.size())
      throw Error(CT_INTERNAL, f->label() + ": backward returned " + std::to_string(gxs.size()) + " gradients for " +
                                   std::to_string(targets.size()) + " targets of " + std::to_string(ins.size()) +
                                   " inputs");
    for (size_t t = 0; t < targets.size(); ++t) {
      int i = targets[t];
      const Variable& gx = gxs[per_input ? i : t];
      if (!gx.defined()) continue;
      const std::shared_ptr<VariableNode>& node = ins[i];
      if (gx.shape() != node->shape || gx.dtype() != node->dtype)
        throw Error(CT_INTERNAL, f->label() + ": backward gave input " + std::to_string(i) + " a gradient of " +
                                     gx.dtype().name() + gx.shape().str() + ", but the input is " +
                                     node->dtype.name() + node->shape.str());
      if (debug) check_finite_debug(f->label() + " (backward)", {gx.array()});
      if (!node->creator) {  // a leaf accumulates into its variable's gradient
        if (auto v = node->variable.lock()) v->grad = v->grad.defined() ? sum_grads(v->grad, gx) : gx;
      } else {
        accumulate(node, gx);
        push(node->creator);
      }
    }
  }
}

// ---- operators --------------------------------------------------------------------

Variable operator+(const Variable& a, const Variable& b) { return F::add(a, b); }
Variable operator-(const Variable& a, const Variable& b) { return F::sub(a, b); }
Variable operator*(const Variable& a, const Variable& b) { return F::mul(a, b); }
Variable operator/(const Variable& a, const Variable& b) { return F::div(a, b); }
Variable operator-(const Variable& a) { return F::neg(a); }
Variable operator+(const Variable& a, double b) { return F::add_scalar(a, b); }
Variable operator+(double a, const Variable& b) { return F::add_scalar(b, a); }
Variable operator-(const Variable& a, double b) { return F::add_scalar(a, -b); }
Variable operator-(double a, const Variable& b) { return F::rsub_scalar(a, b); }
Variable operator*(const Variable& a, double b) { return F::mul_scalar(a, b); }
Variable operator*(double a, const Variable& b) { return F::mul_scalar(b, a); }
Variable operator/(const Variable& a, double b) { return F::mul_scalar(a, 1.0 / b); }
Variable operator/(double a, const Variable& b) { return F::rdiv_scalar(a, b); }

}  // namespace catena
