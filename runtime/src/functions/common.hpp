// Helpers shared by the function implementations.
#pragma once

#include <catena/function_node.hpp>
#include <catena/functions.hpp>
#include <catena/ops.hpp>

#include "../internal.hpp"
#include "../pool.hpp"

#include <string>
#include <vector>

namespace catena {
namespace F {
namespace detail {

inline Tensor scalar_like(double c, const Tensor& like) { return Tensor::full(Shape{}, c, like.dtype(), like.device()); }

inline Variable constant(const Tensor& t) { return Variable(t, false); }

inline void expect_float(const std::string& fn, const Tensor& t, const char* arg) {
  if (!t.dtype().is_float())
    throw Error(CT_INVALID_ARGUMENT, fn + ": " + arg + " must be a floating-point array, got " + t.dtype().name() +
                                         "; convert it with F::cast");
}

// The checks build their message only when they fail; callers on hot paths pass the
// label lazily through the overloads taking a FunctionNode.
inline void expect_same_dtype(const std::string& fn, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw Error(CT_INVALID_ARGUMENT, fn + ": operands have different dtypes (" + a.dtype().name() + " and " +
                                         b.dtype().name() + "); convert one with F::cast");
}

inline void expect_broadcastable(const std::string& fn, const Tensor& a, const Tensor& b) {
  if (a.shape() == b.shape()) return;
  try {
    (void)ops::broadcast_shapes(a.shape(), b.shape());
  } catch (const Error&) {
    throw Error(CT_INVALID_ARGUMENT, fn + ": shapes " + a.shape().str() + " and " + b.shape().str() +
                                         " do not broadcast");
  }
}

inline void expect_same_dtype(const FunctionNode& f, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) expect_same_dtype(f.label(), a, b);
}
inline void expect_broadcastable(const FunctionNode& f, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) expect_broadcastable(f.label(), a, b);
}
inline void expect_float(const FunctionNode& f, const Tensor& t, const char* arg) {
  if (!t.dtype().is_float()) expect_float(f.label(), t, arg);
}

// Apply a single-output function.
template <class Fn, class... Args>
Variable apply1(const std::vector<Variable>& inputs, Args&&... args) {
  if (FunctionNode::would_record(inputs))
    return std::allocate_shared<Fn>(PoolAllocator<Fn>(), std::forward<Args>(args)...)->apply(inputs)[0];
  Fn fn(std::forward<Args>(args)...);  // nothing will refer to it: no heap allocation
  return fn.apply(inputs)[0];
}

// The same for the fixed-arity calls of the functions (no vector of inputs when nothing
// is recorded).
template <class Fn, class... Args>
Variable apply1(std::initializer_list<Variable> inputs, Args&&... args) {
  if (FunctionNode::would_record(inputs))
    return std::allocate_shared<Fn>(PoolAllocator<Fn>(), std::forward<Args>(args)...)->apply(inputs)[0];
  Fn fn(std::forward<Args>(args)...);
  return fn.apply_unrecorded(inputs);
}

using catena::normalize_axes;  // the runtime's one axis check (internal.hpp)

}  // namespace detail
}  // namespace F
}  // namespace catena
