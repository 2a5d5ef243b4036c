// Image transforms for data augmentation, on host images: float32 (C, H, W) unless said
// otherwise. Random ones draw from the generator they are given (TransformDataset seeds it
// per example, so augmentation is reproducible).
//
//   auto aug = transforms::Compose({transforms::RandomCrop(28, 28, /*pad=*/2),
//                                   transforms::RandomHorizontalFlip(),
//                                   transforms::Normalize({0.286}, {0.353})});
//   auto train_aug = std::make_shared<datasets::TransformDataset>(train, transforms::on_first(aug), seed);
#pragma once

#include <catena/dataset.hpp>

#include <functional>
#include <random>
#include <vector>

namespace catena {
namespace transforms {

using Transform = std::function<Tensor(const Tensor& image, std::mt19937_64& rng)>;

Transform Compose(std::vector<Transform> transforms);
// Bilinear resize to (height, width), pixel centres aligned (Chainer's Scale / resize).
Transform Resize(int64_t height, int64_t width);
// A random (height, width) window, after zero-padding each side by `pad`.
Transform RandomCrop(int64_t height, int64_t width, int64_t pad = 0);
Transform CenterCrop(int64_t height, int64_t width);
Transform RandomHorizontalFlip(double p = 0.5);
// (x - mean[c]) / std[c] per channel; one value applies to every channel.
Transform Normalize(std::vector<double> mean, std::vector<double> stddev);
// uint8 (H, W, C) or (H, W) to float32 (C, H, W) in [0, 1]; float32 (C, H, W) passes.
Transform ToTensor();

// An example transform that applies `t` to element 0 (the image) of (x, label, ...).
datasets::ExampleTransform on_first(Transform t);

}  // namespace transforms
}  // namespace catena
