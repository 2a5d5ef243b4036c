// Links (catena::L), with Chainer's names, parameters and defaults.
#pragma once

#include <catena/link.hpp>

namespace catena {
namespace L {

// y = x W^T + b. W is (out_size, in_size), LeCunNormal by default; b is zero by default.
// With Linear::lazy() as in_size, W is made at the first call, from x's size.
class Linear : public Link {
 public:
  struct Lazy {};
  static Lazy lazy() { return {}; }
  Linear(int64_t in_size, int64_t out_size, bool nobias = false, Initializer initialW = {},
         Initializer initial_bias = {});
  Linear(Lazy, int64_t out_size, bool nobias = false, Initializer initialW = {}, Initializer initial_bias = {});

  Variable forward(const Variable& x, int n_batch_axes = 1);
  Variable operator()(const Variable& x) { return forward(x); }

  Parameter W, b;
  int64_t in_size() const { return in_size_; }
  int64_t out_size() const { return out_size_; }

 private:
  int64_t in_size_, out_size_;
  bool nobias_;
};

}  // namespace L
}  // namespace catena
