// An application that embeds Catena: list the devices, then multiply two matrices on the
// default device (CATENA_DEVICE) and read the result back.
#include <catena/ops.hpp>
#include <catena/runtime.hpp>
#include <catena/tensor.hpp>

#include <iostream>

int main() {
  try {
    for (catena::Device* d : catena::runtime().devices())
      std::cout << d->name() << ": " << d->product_name() << "\n";
    catena::Device& dev = catena::default_device();
    auto a = catena::Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, catena::Shape{2, 3}, dev);
    auto b = catena::Tensor::full(catena::Shape{3, 2}, 0.5, catena::float32, dev);
    catena::Tensor y = catena::ops::matmul(a, b);
    std::cout << "on " << dev.name() << ": " << y.str() << " =";
    for (float v : y.to_vector<float>()) std::cout << " " << v;
    std::cout << "\n";
  } catch (const catena::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
