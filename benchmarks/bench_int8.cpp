// W5's network (784-1000-1000-10, ReLU) in Catena for the int8 benchmark: float32, and
// with compression::Quantizer's dynamic int8 Linear layers (weights int8 per output row,
// activations quantized per row at run time, core.gemm_i8). Batch-1 latency (median of
// 2000, no graph, the result read on the host) and batch-100 throughput, on the default
// device. Prints "name value" lines; benchmarks/int8 runs it beside LibTorch.
#include <catena/compression.hpp>
#include <catena/config.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>

#include "median.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

using namespace catena;
int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("Usage: catena-bench-int8\n\nCatena's side of benchmarks/int8: W5 in float32 and dynamic int8.\n");
    return 0;
  }
  seed(0);
  Device& dev = default_device();
  models::MLP net(1000, 10);
  net.to_device(dev);
  auto no_graph = no_backprop_mode();
  UsingConfig test_mode(&Config::train, false);
  const Variable x1(Tensor::full(Shape{1, 784}, 0.5, float32, dev), false);
  const Variable x100(default_generator().uniform(Shape{100, 784}, float32, dev, 0, 1), false);
  auto run = [&](const Variable& x) { net.forward(x).array().to_vector<float>(); };
  const std::vector<float> ref = net.forward(x100).array().to_vector<float>();
  std::printf("fp32_us %.1f\n", bench::median_us([&] { run(x1); }, 2000));
  std::printf("fp32_b100_samples_per_s %.0f\n", 100e6 / bench::median_us([&] { run(x100); }, 200));
  compression::Quantizer()(net);
  std::printf("int8_us %.1f\n", bench::median_us([&] { run(x1); }, 2000));
  std::printf("int8_b100_samples_per_s %.0f\n", 100e6 / bench::median_us([&] { run(x100); }, 200));
  const std::vector<float> q = net.forward(x100).array().to_vector<float>();
  double err = 0;
  for (size_t i = 0; i < q.size(); ++i) err = std::max(err, double(std::fabs(q[i] - ref[i])));
  std::printf("int8_max_abs_error %.4f\n", err);
  return 0;
}
