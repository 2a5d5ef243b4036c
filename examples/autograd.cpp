// A forward and backward pass through a small classifier, on the default device.
#include <catena/functions.hpp>

#include <iostream>

using namespace catena;

int main() {
  try {
    Device& dev = default_device();  // CATENA_DEVICE, else cpu
    Variable x(Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{2, 3}, dev));
    Variable W(Tensor::full(Shape{4, 3}, 0.1, float32, dev)), b(Tensor::zeros(Shape{4}, float32, dev));
    Tensor t = Tensor::from_vector(std::vector<int32_t>{1, 3}, Shape{2}, dev);
    Variable loss = F::softmax_cross_entropy(F::relu(F::linear(x, W, b)), t);
    loss.backward();
    std::cout << "loss " << loss.array().to_vector<float>()[0] << " on " << dev.name() << "; dL/db =";
    for (float g : b.grad().to_vector<float>()) std::cout << " " << g;
    std::cout << "\n";
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
