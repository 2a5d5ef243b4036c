// FunctionNode: one differentiable function application in the graph.
//
// Subclasses implement forward on arrays (with catena::ops) and backward on Variables
// (with catena::F), so backward is itself differentiable. Nothing is retained by default:
// forward calls retain_inputs / retain_outputs for what backward needs, and backward
// fetches them with get_retained_inputs / get_retained_outputs.
#pragma once

#include <catena/config.hpp>
#include <catena/variable.hpp>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace catena {

class FunctionNode : public std::enable_shared_from_this<FunctionNode> {
 public:
  // Releases its inputs without recursion, so dropping a graph of any depth is safe.
  virtual ~FunctionNode();
  // The function's name for messages: "linear", "relu".
  virtual std::string label() const = 0;
  // Check arguments (only when config().type_check); throw catena::Error naming them.
  virtual void check_type_forward(const std::vector<Tensor>& inputs) { (void)inputs; }
  virtual std::vector<Tensor> forward(const std::vector<Tensor>& inputs) = 0;
  // Gradients for the inputs listed in target_input_indexes (either one per target, or
  // one per input); an undefined Variable means "no gradient". grad_outputs has one entry
  // per output, undefined where no gradient arrived.
  virtual std::vector<Variable> backward(const std::vector<int>& target_input_indexes,
                                         const std::vector<Variable>& grad_outputs) = 0;

  // Run the function on Variables and record it in the graph (when enabled). The
  // function must be owned by a shared_ptr: std::make_shared<Relu>()->apply({x}).
  std::vector<Variable> apply(const std::vector<Variable>& inputs);
  std::vector<Variable> apply(std::initializer_list<Variable> inputs);

  // Whether applying a function to these inputs records a graph node (backprop is on and
  // some input requires a gradient).
  static bool would_record(const std::vector<Variable>& inputs);
  static bool would_record(std::initializer_list<Variable> inputs);
  // Run forward without recording anything (the caller checked would_record is false);
  // returns output `index`. Cheaper than apply: no node outlives the call.
  Variable apply_unrecorded(std::initializer_list<Variable> inputs, size_t index = 0);

  const std::vector<std::shared_ptr<VariableNode>>& inputs() const { return inputs_; }
  std::vector<std::shared_ptr<VariableNode>> outputs() const;
  int num_outputs() const { return num_outputs_; }
  // Output i's node, or null once its variable and every use of it are gone.
  std::shared_ptr<VariableNode> output(int i) const { return i == 0 ? output0_.lock() : more_outputs_[i - 1].lock(); }
  int rank() const { return rank_; }
  // Drop the references to inputs and outputs (used by unchain_backward).
  void unchain();

 protected:
  void retain_inputs(const std::vector<int>& indexes);
  void retain_outputs(const std::vector<int>& indexes);
  std::vector<Variable> get_retained_inputs() const;
  std::vector<Variable> get_retained_outputs() const;
  // The input's shape and dtype (known for every input, even unretained ones).
  const Shape& input_shape(int i) const { return inputs_[i]->shape; }
  Dtype input_dtype(int i) const { return inputs_[i]->dtype; }

 private:
  std::vector<Variable> apply_impl(const Variable* inputs, size_t count);

  std::vector<std::shared_ptr<VariableNode>> inputs_;
  // Most functions have one output: it is kept inline, the rest in a vector.
  std::weak_ptr<VariableNode> output0_;
  std::vector<std::weak_ptr<VariableNode>> more_outputs_;
  int num_outputs_ = 0;
  std::vector<int> retain_in_idx_, retain_out_idx_;
  std::vector<Tensor> retained_out_;  // empty unless outputs were retained
  int rank_ = 0;
};

}  // namespace catena
