// Chainer's MNIST example in Catena: an MLP trained on Fashion-MNIST with the Trainer.
//   examples/train_mlp [epochs]      (Fashion-MNIST: apt-get install dataset-fashion-mnist)
#include <catena/dataset.hpp>
#include <catena/functions.hpp>
#include <catena/iterator.hpp>
#include <catena/links.hpp>
#include <catena/optimizers.hpp>
#include <catena/serializers.hpp>
#include <catena/training.hpp>

#include <cstdlib>
#include <iostream>

using namespace catena;
namespace T = catena::training;

struct MLP : Chain {
  L::Linear l1{L::Linear::lazy(), 1000}, l2{1000, 1000}, l3{1000, 10};
  MLP() {
    register_link("l1", l1);
    register_link("l2", l2);
    register_link("l3", l3);
  }
  Variable forward(const Variable& x) override { return l3(F::relu(l2(F::relu(l1(x))))); }
};

int main(int argc, char** argv) try {
  int epochs = argc > 1 ? std::atoi(argv[1]) : 5;
  Device& device = default_device();  // CATENA_DEVICE=cuda:0 picks another
  auto [train, test] = datasets::get_fashion_mnist();

  L::Classifier model(std::make_shared<MLP>());
  model.to_device(device);
  optimizers::Adam optimizer;
  optimizer.setup(model);

  SerialIterator train_iter(train, 100), test_iter(test, 100, /*repeat=*/false, /*shuffle=*/false);
  T::StandardUpdater updater(train_iter, optimizer, device);
  T::Trainer trainer(updater, {double(epochs), T::Unit::epoch}, "result");
  trainer.extend(std::make_shared<T::Evaluator>(test_iter, model, device));
  trainer.extend(std::make_shared<T::LogReport>());
  trainer.extend(std::make_shared<T::PrintReport>(std::vector<std::string>{
      "epoch", "main/loss", "validation/main/loss", "main/accuracy", "validation/main/accuracy", "elapsed_time"}));
  trainer.extend(std::make_shared<T::ProgressBar>());
  trainer.run();
  save_npz("result/model.npz", model);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "train_mlp: " << e.what() << "\n";
  return 1;
}
