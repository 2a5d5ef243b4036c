// FunctionNode::apply: run forward on arrays and record the application in the graph.
#include <catena/function_node.hpp>
#include <catena/ops.hpp>

#include "../internal.hpp"
#include "../pool.hpp"

#include <algorithm>

namespace catena {

// config().debug: name the function that produced a NaN or an infinity. x - x is NaN
// exactly where x is NaN or infinite, so one comparison counts both.
void check_finite_debug(const std::string& label, const std::vector<Tensor>& outs) {
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor& t = outs[i];
    if (!t.dtype().is_float() || t.numel() == 0) continue;
    Tensor d = ops::sub(t, t);
    int64_t bad = ops::sum(ops::compare("core.not_equal", d, d).astype(int64)).to_vector<int64_t>()[0];
    if (bad)
      throw Error(CT_DATA_LOSS, label + ": output " + std::to_string(i) + " " + t.shape().str() + " contains " +
                                    std::to_string(bad) + " NaN or infinite values (config().debug is on)");
  }
}

Variable VariableNode::variable_or_retained(const std::shared_ptr<VariableNode>& self) const {
  if (auto v = variable.lock()) return Variable(v);
  if (!retained.defined())
    throw Error(CT_FAILED_PRECONDITION, "the array of a variable was needed in backward but was not retained "
                                        "(a FunctionNode must call retain_inputs/retain_outputs in forward)");
  auto impl = std::allocate_shared<VariableImpl>(PoolAllocator<VariableImpl>());
  impl->data = retained;
  impl->node = self;
  impl->requires_grad = self->requires_grad;
  self->variable = impl;
  return Variable(impl);
}

namespace {
bool records(const Variable* begin, const Variable* end) {
  if (!config().enable_backprop) return false;
  for (const Variable* v = begin; v != end; ++v)
    if (v->defined() && v->requires_grad()) return true;
  return false;
}
}  // namespace

bool FunctionNode::would_record(const std::vector<Variable>& inputs) {
  return records(inputs.data(), inputs.data() + inputs.size());
}

bool FunctionNode::would_record(std::initializer_list<Variable> inputs) { return records(inputs.begin(), inputs.end()); }

Variable FunctionNode::apply_unrecorded(std::initializer_list<Variable> inputs, size_t index) {
  std::vector<Tensor> in;
  in.reserve(inputs.size());
  bool requires_grad = false;
  size_t i = 0;
  for (const Variable& v : inputs) {
    if (!v.defined())
      throw Error(CT_INVALID_ARGUMENT, label() + ": input " + std::to_string(i) + " is an undefined Variable");
    in.push_back(v.array());
    requires_grad = requires_grad || v.requires_grad();
    ++i;
  }
  const Config& cfg = config();
  if (cfg.type_check) check_type_forward(in);
  std::vector<Tensor> out = forward(in);
  if (cfg.debug) check_finite_debug(label(), out);
  auto impl = std::allocate_shared<VariableImpl>(PoolAllocator<VariableImpl>());
  impl->data = std::move(out.at(index));
  impl->requires_grad = requires_grad && impl->data.dtype().is_float();
  return Variable(std::move(impl));
}

std::vector<Variable> FunctionNode::apply(const std::vector<Variable>& inputs) {
  return apply_impl(inputs.data(), inputs.size());
}

std::vector<Variable> FunctionNode::apply(std::initializer_list<Variable> inputs) {
  return apply_impl(inputs.begin(), inputs.size());
}

std::vector<Variable> FunctionNode::apply_impl(const Variable* inputs, size_t count) {
  std::vector<Tensor> in(count);
  bool requires_grad = false;
  for (size_t i = 0; i < count; ++i) {
    if (!inputs[i].defined())
      throw Error(CT_INVALID_ARGUMENT, label() + ": input " + std::to_string(i) + " is an undefined Variable");
    in[i] = inputs[i].array();
    requires_grad = requires_grad || inputs[i].requires_grad();
  }
  const Config& cfg = config();
  if (cfg.type_check) check_type_forward(in);
  retain_in_idx_.clear();
  retain_out_idx_.clear();
  std::vector<Tensor> out = forward(in);
  if (cfg.debug) check_finite_debug(label(), out);

  std::vector<Variable> result(out.size());
  bool record = cfg.enable_backprop && requires_grad;
  if (record) {
    inputs_.resize(count);
    rank_ = 0;
    for (size_t i = 0; i < count; ++i) {
      inputs_[i] = inputs[i].node();
      rank_ = std::max(rank_, inputs_[i]->rank);
    }
    for (int i : retain_in_idx_) inputs_[i]->retained = in[i];
    num_outputs_ = static_cast<int>(out.size());
    if (out.size() > 1) more_outputs_.resize(out.size() - 1);
  }
  auto self = record ? shared_from_this() : nullptr;
  for (size_t i = 0; i < out.size(); ++i) {
    auto impl = std::allocate_shared<VariableImpl>(PoolAllocator<VariableImpl>());
    impl->data = out[i];
    impl->requires_grad = requires_grad && out[i].dtype().is_float();
    result[i] = Variable(impl);
    if (record) {
      VariableNode& n = *result[i].node();
      n.creator = self;
      n.rank = rank_ + 1;
      (i == 0 ? output0_ : more_outputs_[i - 1]) = impl->node;
    }
  }
  if (record && !retain_out_idx_.empty()) {
    retained_out_.assign(out.size(), Tensor());
    for (int i : retain_out_idx_) {
      retained_out_[i] = out[i];
      result[i].node()->retained = out[i];
    }
  }
  return result;
}

FunctionNode::~FunctionNode() {
  // Destroying a node releases its creator, whose destructor releases its inputs, and so
  // on down the graph: done recursively, a long chain (an RNN over many steps) would
  // overflow the stack. Inputs about to die are handed to a per-thread list instead and
  // released by the outermost destructor, one at a time.
  if (inputs_.empty()) return;  // never recorded (or already unchained): nothing to release
  thread_local std::vector<std::shared_ptr<VariableNode>> pending;
  thread_local bool draining = false;
  for (auto& in : inputs_)
    if (in && in.use_count() == 1) pending.push_back(std::move(in));
  inputs_.clear();
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<VariableNode> n = std::move(pending.back());
    pending.pop_back();
    n.reset();  // may run further FunctionNode destructors, which only append to `pending`
  }
  draining = false;
}

std::vector<std::shared_ptr<VariableNode>> FunctionNode::outputs() const {
  std::vector<std::shared_ptr<VariableNode>> out;
  for (int i = 0; i < num_outputs_; ++i) out.push_back(output(i));
  return out;
}

void FunctionNode::retain_inputs(const std::vector<int>& indexes) { retain_in_idx_ = indexes; }
void FunctionNode::retain_outputs(const std::vector<int>& indexes) { retain_out_idx_ = indexes; }

std::vector<Variable> FunctionNode::get_retained_inputs() const {
  std::vector<Variable> out;
  for (int i : retain_in_idx_) out.push_back(inputs_.at(i)->variable_or_retained(inputs_[i]));
  return out;
}

std::vector<Variable> FunctionNode::get_retained_outputs() const {
  std::vector<Variable> out;
  for (int i : retain_out_idx_) {
    std::shared_ptr<VariableNode> n = output(i);
    if (!n) {  // the output variable is gone: a new node over the retained array
      n = std::make_shared<VariableNode>();
      n->creator = std::const_pointer_cast<FunctionNode>(shared_from_this());
      n->rank = rank_ + 1;
      n->requires_grad = retained_out_[i].dtype().is_float();
      n->shape = retained_out_[i].shape();
      n->dtype = retained_out_[i].dtype();
      n->device = &retained_out_[i].device();
      n->retained = retained_out_[i];
    }
    out.push_back(n->variable_or_retained(n));
  }
  return out;
}

void FunctionNode::unchain() {
  for (int i = 0; i < num_outputs_; ++i)
    if (auto n = output(i)) n->creator.reset();
  inputs_.clear();
  output0_.reset();
  more_outputs_.clear();
  num_outputs_ = 0;
  retained_out_.clear();
}

}  // namespace catena
