// Models registered by name: the ones `catena train` builds (and that whole-model files
// can rebuild without the user's classes).
#pragma once

#include <catena/links.hpp>
#include <catena/serializers.hpp>

namespace catena {
namespace models {

// Chainer's MNIST example: Linear(None, unit) - relu - Linear(unit, unit) - relu -
// Linear(unit, n_out). Parameters l1, l2, l3.
class MLP : public Chain {
 public:
  explicit MLP(int64_t n_units = 1000, int64_t n_out = 10);
  Variable forward(const Variable& x) override;
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  L::Linear l1, l2, l3;

 private:
  int64_t n_units_, n_out_;
};

// The W2 CNN: conv(C->32, 3x3, pad 1) - relu - maxpool 2 - conv(32->64, 3x3, pad 1) - relu
// - maxpool 2 - Linear(None, unit) - relu - Linear(unit, n_out). Parameters conv1, conv2,
// fc1, fc2. Input (N, C, H, W); C is taken from the first batch.
class CNN : public Chain {
 public:
  explicit CNN(int64_t n_units = 128, int64_t n_out = 10);
  Variable forward(const Variable& x) override;
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  L::Convolution2D conv1, conv2;
  L::Linear fc1, fc2;

 private:
  int64_t n_units_, n_out_;
};

// "mlp" or "cnn" with attributes n_units and n_out.
std::unique_ptr<Link> create(const std::string& name, const links::Attributes& attributes = {});
std::vector<std::string> names();

}  // namespace models


}  // namespace catena
