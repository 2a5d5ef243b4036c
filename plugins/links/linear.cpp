#include <catena/compression.hpp>
#include <catena/functions.hpp>
#include <catena/links.hpp>

namespace catena {
namespace L {

Linear::Linear(int64_t in_size, int64_t out_size, bool nobias, Initializer initialW, Initializer initial_bias)
    : W(initialW), b(initial_bias ? initial_bias : initializers::Zero()), in_size_(in_size), out_size_(out_size),
      nobias_(nobias), initW_(initialW), initb_(initial_bias) {
  if (out_size <= 0 || in_size <= 0)
    throw Error(CT_INVALID_ARGUMENT, "Linear: sizes must be positive, got in_size " + std::to_string(in_size) +
                                         ", out_size " + std::to_string(out_size) +
                                         " (use Linear::lazy() to take in_size from the first input)");
  register_param("W", W);
  W.initialize(Shape{out_size, in_size}, device());
  if (!nobias) {
    register_param("b", b);
    b.initialize(Shape{out_size}, device());
  }
}

Linear::Linear(Lazy, int64_t out_size, bool nobias, Initializer initialW, Initializer initial_bias)
    : W(initialW), b(initial_bias ? initial_bias : initializers::Zero()), in_size_(0), out_size_(out_size),
      nobias_(nobias), initW_(initialW), initb_(initial_bias) {
  if (out_size <= 0) throw Error(CT_INVALID_ARGUMENT, "Linear: out_size must be positive, got " + std::to_string(out_size));
  register_param("W", W);
  if (!nobias) {
    register_param("b", b);
    b.initialize(Shape{out_size}, device());
  }
}

Variable Linear::forward(const Variable& x, int n_batch_axes) {
  compression::observe_input(*this, x.array());
  if (const Parameter::Int8* q = W.quantized())
    return F::linear_int8(x, q->q, q->scale, q->input_scale, nobias_ ? Variable() : Variable(b), n_batch_axes);
  if (!W.is_initialized()) {
    int64_t rows = 1;
    for (int i = 0; i < n_batch_axes && i < x.ndim(); ++i) rows *= x.shape()[i];
    in_size_ = rows ? x.size() / rows : 0;
    W.initialize(Shape{out_size_, in_size_}, device());
  }
  return F::linear(x, W.weight(), nobias_ ? Variable() : Variable(b), n_batch_axes);
}

std::unique_ptr<Link> Linear::make_like() const {
  if (in_size_ == 0) return std::make_unique<Linear>(lazy(), out_size_, nobias_, initW_, initb_);
  return std::make_unique<Linear>(in_size_, out_size_, nobias_, initW_, initb_);
}

void Linear::shapes_changed() {
  if (const std::optional<Shape> w = W.weight_shape()) {
    out_size_ = (*w)[0];
    in_size_ = (*w)[1];
  }
}

Link::Recipe Linear::recipe() const {
  return {"linear", {{"in_size", double(in_size_)}, {"out_size", double(out_size_)}, {"nobias", nobias_ ? 1.0 : 0.0}},
          {}, false};
}

}  // namespace L
}  // namespace catena
