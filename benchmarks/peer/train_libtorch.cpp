// W1, W2 and W5, the LibTorch side: the same models, data, batch sizes, optimizer and
// measurement as bench_train.cpp. Fashion-MNIST is read from Debian's IDX files.
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

static std::vector<unsigned char> gz(const std::string& path, size_t skip) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(1);
  }
  std::vector<unsigned char> out, buf(1 << 16);
  int n;
  while ((n = gzread(f, buf.data(), unsigned(buf.size()))) > 0) out.insert(out.end(), buf.begin(), buf.begin() + n);
  gzclose(f);
  return std::vector<unsigned char>(out.begin() + long(skip), out.end());
}

struct MLP : torch::nn::Module {
  torch::nn::Linear l1{784, 1000}, l2{1000, 1000}, l3{1000, 10};
  MLP() {
    register_module("l1", l1);
    register_module("l2", l2);
    register_module("l3", l3);
  }
  torch::Tensor forward(torch::Tensor x) { return l3(torch::relu(l2(torch::relu(l1(x))))); }
};

struct CNN : torch::nn::Module {
  torch::nn::Conv2d c1{torch::nn::Conv2dOptions(1, 32, 3).padding(1)}, c2{torch::nn::Conv2dOptions(32, 64, 3).padding(1)};
  torch::nn::Linear f1{3136, 128}, f2{128, 10};
  CNN() {
    register_module("c1", c1);
    register_module("c2", c2);
    register_module("f1", f1);
    register_module("f2", f2);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(c1(x)), 2);
    x = torch::max_pool2d(torch::relu(c2(x)), 2);
    return f2(torch::relu(f1(x.flatten(1))));
  }
};

template <class Net>
double train(Net& net, const torch::Tensor& x, const torch::Tensor& t, int batch, int warmup, int iters) {
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(1e-3));
  std::mt19937 rng(1);
  std::vector<int64_t> order(size_t(x.size(0)));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  std::shuffle(order.begin(), order.end(), rng);
  size_t pos = 0;
  auto step = [&] {
    if (pos + size_t(batch) > order.size()) {
      std::shuffle(order.begin(), order.end(), rng);
      pos = 0;
    }
    auto idx = torch::from_blob(order.data() + pos, {batch}, torch::kLong).clone();
    pos += size_t(batch);
    auto xb = x.index_select(0, idx), tb = t.index_select(0, idx);
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net.forward(xb), tb);
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < warmup; ++i) step();
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) step();
  return double(iters) * batch / std::chrono::duration<double>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::printf("Usage: train_libtorch [w1|w2|w5 ...]   (default: all three)\n\nThe LibTorch side of "
                  "catena-bench-train: the same workloads, printed as `name value` lines.\n");
      return 0;
    }
  torch::set_num_threads(2);
  at::globalContext().setFlushDenormal(true);
  const char* dirv = std::getenv("CATENA_FASHION_MNIST");
  std::string dir = dirv && *dirv ? dirv : "/usr/share/datasets/fashion-mnist";
  auto img = gz(dir + "/train-images-idx3-ubyte.gz", 16), lab = gz(dir + "/train-labels-idx1-ubyte.gz", 8);
  auto x = torch::from_blob(img.data(), {60000, 784}, torch::kUInt8).to(torch::kFloat) / 255.0;
  auto t = torch::from_blob(lab.data(), {60000}, torch::kUInt8).to(torch::kLong);
  std::vector<std::string> which(argv + 1, argv + argc);
  if (which.empty()) which = {"w1", "w2", "w5"};
  auto env_int = [](const char* n, int d) {  // a positive iteration count, else stop and say so
    const char* v = std::getenv(n);
    if (!v || !*v) return d;
    char* end = nullptr;
    errno = 0;
    const long k = std::strtol(v, &end, 10);
    if (*end || errno || k < 1 || k > 1000000) {
      std::fprintf(stderr, "train_libtorch: %s='%s' is not a whole number from 1 to 1000000\n", n, v);
      std::exit(2);
    }
    return int(k);
  };
  for (const std::string& w : which) {
    torch::manual_seed(0);
    if (w == "w1") {
      MLP net;
      std::printf("w1_samples_per_s %.0f\n", train(net, x, t, 100, 20, env_int("W1_ITERS", 600)));
    } else if (w == "w2") {
      CNN net;
      std::printf("w2_samples_per_s %.0f\n", train(net, x.view({60000, 1, 28, 28}), t, 128, 5, env_int("W2_ITERS", 100)));
    } else if (w == "w5") {
      MLP net;
      torch::NoGradGuard no_grad;
      auto in = torch::full({1, 784}, 0.5f);
      for (int i = 0; i < 50; ++i) (void)net.forward(in)[0][0].item<float>();
      std::vector<double> ts;
      for (int i = 0; i < 2000; ++i) {
        auto t0 = Clock::now();
        float v = net.forward(in)[0][0].item<float>();
        (void)v;
        ts.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      std::nth_element(ts.begin(), ts.begin() + long(ts.size() / 2), ts.end());
      std::printf("w5_us %.1f\n", ts[ts.size() / 2]);
    }
    std::fflush(stdout);
  }
  return 0;
}
