// W5's network (784-1000-1000-10, ReLU) in LibTorch for the int8 benchmark: float32, and
// dynamic int8 Linear layers — quantized::linear_prepack and quantized::linear_dynamic
// called through the dispatcher, as torch.ao.quantization.quantize_dynamic makes them
// (weights per tensor, activations quantized per call) — on the ONEDNN and QNNPACK engines
// (Debian's LibTorch has no FBGEMM). Batch-1 latency (median of 2000, no grad) and
// batch-100 throughput. Prints "name value" lines.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/torch.h>

#include "../median.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace {

struct Layer {
  torch::Tensor w, b;
  c10::IValue packed;
};

torch::Tensor call(const char* op, std::vector<c10::IValue> args) {
  auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(op, "");
  torch::jit::Stack stack(args.begin(), args.end());
  handle.callBoxed(&stack);
  return stack.back().toTensor();
}

c10::IValue prepack(const torch::Tensor& w, const torch::Tensor& b) {
  // Symmetric per-tensor weights, as the default dynamic qconfig makes them.
  const double scale = w.abs().max().item<double>() / 127.0;
  torch::Tensor q = at::quantize_per_tensor(w, scale, 0, at::kQInt8);
  auto handle = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_prepack", "");
  torch::jit::Stack stack{q, b};
  handle.callBoxed(&stack);
  return stack.back();
}


}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("Usage: int8_libtorch\n\nLibTorch's side of benchmarks/int8: W5 in float32 and dynamic int8.\n");
    return 0;
  }
  at::globalContext().setFlushDenormal(true);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  const int sizes[4] = {784, 1000, 1000, 10};
  std::vector<Layer> layers;
  for (int i = 0; i < 3; ++i) {
    torch::nn::Linear l(sizes[i], sizes[i + 1]);
    layers.push_back({l->weight.detach().clone(), l->bias.detach().clone(), {}});
  }
  auto fp32 = [&](const torch::Tensor& x) {
    torch::Tensor h = x;
    for (size_t i = 0; i < layers.size(); ++i) {
      h = torch::linear(h, layers[i].w, layers[i].b);
      if (i + 1 < layers.size()) h = torch::relu(h);
    }
    return h;
  };
  auto int8 = [&](const torch::Tensor& x) {
    torch::Tensor h = x;
    for (size_t i = 0; i < layers.size(); ++i) {
      h = call("quantized::linear_dynamic", {h, layers[i].packed, false});
      if (i + 1 < layers.size()) h = torch::relu(h);
    }
    return h;
  };
  const torch::Tensor x1 = torch::full({1, 784}, 0.5f), x100 = torch::rand({100, 784});
  std::printf("fp32_us %.1f\n", bench::median_us([&] { (void)fp32(x1)[0][0].item<float>(); }, 2000));
  std::printf("fp32_b100_samples_per_s %.0f\n", 100e6 / bench::median_us([&] { (void)fp32(x100)[0][0].item<float>(); }, 200));
  for (auto [engine, name] : {std::pair{at::QEngine::ONEDNN, "onednn"}, std::pair{at::QEngine::QNNPACK, "qnnpack"}}) {
    const auto& engines = at::globalContext().supportedQEngines();
    if (std::find(engines.begin(), engines.end(), engine) == engines.end()) continue;
    at::globalContext().setQEngine(engine);
    for (Layer& l : layers) l.packed = prepack(l.w, l.b);
    std::printf("int8_%s_us %.1f\n", name, bench::median_us([&] { (void)int8(x1)[0][0].item<float>(); }, 2000));
    std::printf("int8_%s_b100_samples_per_s %.0f\n", name,
                100e6 / bench::median_us([&] { (void)int8(x100)[0][0].item<float>(); }, 200));
    const double err = (int8(x100) - fp32(x100)).abs().max().item<double>();
    std::printf("int8_%s_max_abs_error %.4f\n", name, err);
  }
  return 0;
}
