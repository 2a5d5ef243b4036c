// W1, W2 and W5 of shared/bench/WORKLOADS.md in Catena: training samples/s of the MLP
// (batch 100, Adam) and the CNN (batch 128, Adam) on shuffled Fashion-MNIST after a
// warm-up, and the MLP's batch-1 forward latency (median, no graph). Same workloads as
// peer/train_libtorch.cpp. Prints "name value" lines. Runs on the default device
// (CATENA_DEVICE, e.g. opencl:0; the cpu unless set).
//   catena-bench-train [w1|w2|w5 ...]   (default: all; W1_ITERS, W2_ITERS change the lengths)
#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/iterator.hpp>
#include <catena/models.hpp>
#include <catena/optimizers.hpp>
#include <catena/random.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

using namespace catena;
using Clock = std::chrono::steady_clock;

namespace {

// A positive iteration count from the environment; anything else is an error that names it.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v, &end, 10);
  if (*end || errno || n < 1 || n > 1000000)
    throw std::invalid_argument(std::string(name) + "='" + v + "' is not a whole number from 1 to 1000000");
  return int(n);
}

double train(const std::string& model_name, int batch, int warmup, int iters) {
  datasets::MnistOptions o;
  o.ndim = model_name == "cnn" ? 3 : 1;
  auto data = datasets::get_fashion_mnist("", o);
  seed(0);
  auto predictor = models::create(model_name);
  Link& net = *predictor;
  optimizers::Adam opt(1e-3);
  opt.setup(net);
  SerialIterator it(data.first, size_t(batch), true, true, 1);
  Device& dev = default_device();
  net.to_device(dev);
  auto step = [&] {
    Example b = *it.next_batch(dev);
    opt.update([&] { return F::softmax_cross_entropy(net.forward(Variable(b[0], false)), b[1]); });
  };
  for (int i = 0; i < warmup; ++i) step();
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) step();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return double(iters) * batch / s;
}

double latency_us() {
  seed(0);
  auto net = models::create("mlp");
  net->to_device(default_device());
  Variable x(Tensor::full(Shape{1, 784}, 0.5, float32, default_device()));
  auto no_graph = no_backprop_mode();
  UsingConfig test_mode(&Config::train, false);
  for (int i = 0; i < 50; ++i) net->forward(x).array().to_vector<float>();
  std::vector<double> t;
  for (int i = 0; i < 2000; ++i) {
    auto t0 = Clock::now();
    Variable y = net->forward(x);
    float v = y.array().to_vector<float>()[0];  // the result on the host, as a user would read it
    (void)v;
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> which(argv + 1, argv + argc);
  for (const std::string& a : which)
    if (a == "--help" || a == "-h") {
      std::printf(
          "Usage: catena-bench-train [w1|w2|w5 ...]   (default: all three)\n\n"
          "W1: MLP 784-1000-1000-10 training samples/s (Adam, batch 100); W2: the CNN's training samples/s\n"
          "(batch 128); W5: the MLP's batch-1 forward latency in us (median of 2000). Fashion-MNIST from\n"
          "CATENA_FASHION_MNIST or /usr/share/datasets/fashion-mnist. Prints lines `name value`.\n\n"
          "Environment: W1_ITERS (default 600), W2_ITERS (default 100) change the lengths;\n"
          "CATENA_DEVICE picks the device (default: the cpu).\n");
      return 0;
    }
  if (which.empty()) which = {"w1", "w2", "w5"};
  try {
    for (const std::string& w : which) {
      if (w == "w1") std::printf("w1_samples_per_s %.0f\n", train("mlp", 100, 20, env_int("W1_ITERS", 600)));
      else if (w == "w2") std::printf("w2_samples_per_s %.0f\n", train("cnn", 128, 5, env_int("W2_ITERS", 100)));
      else if (w == "w5") std::printf("w5_us %.1f\n", latency_us());
      else {
        std::fprintf(stderr, "catena-bench-train: unknown workload '%s' (w1, w2, w5)\n", w.c_str());
        return 2;
      }
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "catena-bench-train: %s\n", e.what());
    return 1;
  }
  return 0;
}
