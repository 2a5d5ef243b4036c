// Whole-model files: one file (npz or hdf5) with the architecture — the tree of registered
// link types, their attributes and parts — and the parameters under Chainer's keys, so a
// model is rebuilt on any device by a program that never saw its C++ class.
//
//   catena::save_model("mlp.npz", model);                  // model: an L::Classifier(mlp)
//   auto back = catena::load_model("mlp.npz", catena::device("cpu"));
//
// A model is saveable whole when every part is known to the runtime: the in-tree links and
// models (mlp, cnn), a Sequential of them and of functions added by name, a Classifier
// with its default loss. Anything else is refused when saving, saying which part.
// numpy reads the file (the architecture is one uint8 array of JSON text under
// "_catena_model/architecture"); Chainer's load_npz reads its parameters.
#pragma once

#include <catena/link.hpp>
#include <catena/serializer.hpp>

#include <memory>
#include <string>

namespace catena {

// The version of the architecture format this Catena writes (and the newest it reads).
constexpr int64_t kModelFileVersion = 1;

void save_model(const std::string& path, Link& model, const std::string& format = "", bool compress = false);
// The model of a whole-model file on `device`, every parameter with the file's values
// (read once, straight into it: loading costs about the arrays' size in memory). A file
// that leaves a parameter without values (None) is an error naming the key.
std::unique_ptr<Link> load_model(const std::string& path, Device& device = default_device());
// When `keys` hold a whole model: throws unless it would load (its architecture builds,
// every parameter is there with its shape and values). Reads no large array.
void check_model_file(const KeyStore& keys, const std::string& path);

// The architecture as JSON text; throws, naming the part, when the model cannot be
// described.
std::string architecture_json(const Link& model);
// The architecture of a file, if it holds one ("" when it holds parameters only).
std::string architecture_of(const KeyStore& keys);
// The architecture's tree; errors name `where`.
Link::Recipe parse_architecture(const std::string& architecture_json, const std::string& where = "architecture");
// The tree as indented lines: "classifier (compute_accuracy=1)", "  mlp (n_out=10, ...)".
std::string describe_architecture(const Link::Recipe& recipe);
// A model built from an architecture (fresh parameters).
std::unique_ptr<Link> build_model(const std::string& architecture_json, const std::string& where = "architecture");

}  // namespace catena
