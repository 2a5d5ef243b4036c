// Models registered by name: the ones `catena train` builds (and that whole-model files
// can rebuild without the user's classes).
#pragma once

#include <catena/links.hpp>
#include <catena/serializers.hpp>

namespace catena {
namespace models {

// Chainer's MNIST example: Linear(None, unit) - relu - Linear(unit, unit) - relu -
// Linear(unit, n_out). Parameters l1, l2, l3. n_units2 (when not 0) is the second hidden
// layer's width, as structured pruning may leave it.
class MLP : public Chain {
 public:
  explicit MLP(int64_t n_units = 1000, int64_t n_out = 10, int64_t n_units2 = 0);
  Variable forward(const Variable& x) override;
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  std::vector<Link*> sequence() override { return {&l1, &l2, &l3}; }
  L::Linear l1, l2, l3;

 private:
  int64_t n_out_;
};

// The W2 CNN: conv(C->32, 3x3, pad 1) - relu - maxpool 2 - conv(32->64, 3x3, pad 1) - relu
// - maxpool 2 - Linear(None, unit) - relu - Linear(unit, n_out). Parameters conv1, conv2,
// fc1, fc2. Input (N, C, H, W); C is taken from the first batch.
// channels1 and channels2 are the convolutions' output channels (32 and 64 unless
// structured pruning removed some).
class CNN : public Chain {
 public:
  explicit CNN(int64_t n_units = 128, int64_t n_out = 10, int64_t channels1 = 32, int64_t channels2 = 64);
  Variable forward(const Variable& x) override;
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  std::vector<Link*> sequence() override { return {&conv1, &conv2, &fc1, &fc2}; }
  L::Convolution2D conv1, conv2;
  L::Linear fc1, fc2;

 private:
  int64_t n_out_;
};

// "mlp" (attributes n_units, n_out, n_units2) or "cnn" (n_units, n_out, channels1, channels2).
std::unique_ptr<Link> create(const std::string& name, const links::Attributes& attributes = {});
std::vector<std::string> names();

}  // namespace models


}  // namespace catena
