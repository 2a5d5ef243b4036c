// A small CNN on Fashion-MNIST, written as a plain training loop (no Trainer).
//   examples/train_cnn [epochs]
#include <catena/config.hpp>
#include <catena/dataset.hpp>
#include <catena/functions.hpp>
#include <catena/iterator.hpp>
#include <catena/links.hpp>
#include <catena/optimizers.hpp>

#include <cstdio>
#include <cstdlib>

using namespace catena;

struct CNN : Chain {
  L::Convolution2D conv1{1, 32, 3, 1, 1}, conv2{32, 64, 3, 1, 1};
  L::Linear fc1{L::Linear::lazy(), 128}, fc2{128, 10};
  CNN() {
    register_link("conv1", conv1);
    register_link("conv2", conv2);
    register_link("fc1", fc1);
    register_link("fc2", fc2);
  }
  Variable forward(const Variable& x) override {
    Variable h = F::max_pooling_2d(F::relu(conv1(x)), 2);
    h = F::max_pooling_2d(F::relu(conv2(h)), 2);
    return fc2(F::relu(fc1(h)));
  }
};

int main(int argc, char** argv) try {
  int epochs = argc > 1 ? std::atoi(argv[1]) : 1;
  Device& device = default_device();
  datasets::MnistOptions images;
  images.ndim = 3;  // (1, 28, 28)
  auto [train, test] = datasets::get_fashion_mnist("", images);

  CNN model;
  model.to_device(device);
  optimizers::Adam optimizer;
  optimizer.setup(model);
  SerialIterator it(train, 128);
  while (it.epoch < epochs) {
    Example b = *it.next_batch(device);
    Variable loss = optimizer.update([&] { return F::softmax_cross_entropy(model(Variable(b[0], false)), b[1]); });
    if (optimizer.t % 100 == 0)
      std::printf("iteration %lld  loss %.4f\n", (long long)optimizer.t, loss.array().to_vector<float>()[0]);
  }
  // Test accuracy, without the graph.
  auto no_graph = no_backprop_mode();
  SerialIterator test_it(test, 500, false, false);
  double correct = 0;
  while (auto b = test_it.next_batch(device))
    correct += F::accuracy(model(Variable((*b)[0])), (*b)[1]).array().to_vector<float>()[0] * double((*b)[0].shape()[0]);
  std::printf("test accuracy %.4f\n", correct / double(test->size()));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "train_cnn: %s\n", e.what());
  return 1;
}
