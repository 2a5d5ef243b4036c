// Parameters, initializers, Link, Chain and ChainList, with Chainer's semantics.
//
//   struct MLP : catena::Chain {
//     catena::L::Linear l1{catena::L::Linear::lazy(), 100}, l2{100, 10};
//     MLP() { register_link("l1", l1); register_link("l2", l2); }  // Chainer's init_scope
//     catena::Variable forward(const catena::Variable& x) {
//       return l2(catena::F::relu(l1(x)));
//     }
//   };
//
// Links register members by reference, so a link is neither copied nor moved.
#pragma once

#include <catena/serializer.hpp>
#include <catena/variable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace catena {

// Fills a freshly allocated array (its shape and dtype are the parameter's).
using Initializer = std::function<void(Tensor& array)>;

namespace initializers {
// Chainer's initializers; fan_in = shape[1] * prod(shape[2:]), fan_out = shape[0] * prod(shape[2:]).
Initializer LeCunNormal(double scale = 1.0);   // normal, std = scale * sqrt(1 / fan_in) (the default)
Initializer LeCunUniform(double scale = 1.0);  // uniform(-s, s), s = scale * sqrt(3 / fan_in)
Initializer GlorotNormal(double scale = 1.0);  // std = scale * sqrt(2 / (fan_in + fan_out))
Initializer GlorotUniform(double scale = 1.0); // s = scale * sqrt(6 / (fan_in + fan_out))
Initializer HeNormal(double scale = 1.0);      // std = scale * sqrt(2 / fan_in)
Initializer HeUniform(double scale = 1.0);     // s = scale * sqrt(6 / fan_in)
Initializer Normal(double scale = 0.05);       // normal(0, scale)
Initializer Uniform(double scale = 0.05);      // uniform(-scale, scale)
Initializer Constant(double value);
Initializer Zero();
Initializer One();
// A random orthogonal matrix (rows or columns orthonormal) of shape
// (shape[0], prod(shape[1:])), times scale.
Initializer Orthogonal(double scale = 1.0);
}  // namespace initializers

// A Variable a link owns and an optimizer updates. It may start uninitialized (its shape
// unknown until the first forward) and is then filled by its initializer.
class Parameter : public Variable {
 public:
  Parameter() = default;
  // Uninitialized until initialize(shape) (or given a shape here).
  explicit Parameter(Initializer init, const Shape& shape = Shape(), bool shaped = false, Dtype dtype = float32);
  // Initialized with `data`.
  explicit Parameter(const Tensor& data);

  bool is_initialized() const { return defined(); }
  // Allocate on `device` and fill with the initializer. A fresh parameter's gradient is
  // NaN-filled, as in Chainer (cleargrads before the first backward). Under a
  // DeferredParameters scope nothing is allocated: the parameter records its shape and
  // stays uninitialized until values are loaded into it.
  void initialize(const Shape& shape, Device& device);
  // Whether it waits for loaded values of pending_shape() (made under DeferredParameters).
  bool is_pending() const { return pending_; }
  const Shape& pending_shape() const { return pending_shape_; }
  Dtype param_dtype() const { return dtype_; }
  bool update_enabled() const { return update_enabled_; }
  void set_update_enabled(bool on) { update_enabled_ = on; }

  // Compressed forms (catena/compression.hpp makes them; Link::serialize stores them).
  //
  // A pruning mask: bool, the parameter's shape, false where a weight was pruned. Those
  // weights are zero and stay zero: every optimizer applies the mask again after each
  // update (momentum and weight decay cannot revive them). Saved sparse, as the kept
  // values and a bitmap ("W.values", "W.mask", "W.shape").
  const Tensor& mask() const { return mask_; }
  // Sets the mask (undefined: none) and zeroes the weights it prunes.
  void set_mask(const Tensor& mask);
  // Multiplies the weights by the mask again (nothing without one).
  void apply_mask();
  // Quantized to int8 with one scale per output channel (axis 0): W ≈ q · scale. The
  // parameter then holds no float array, is never updated, and layers that know the form
  // (Linear, Convolution2D) compute with it: activations quantized with input_scale
  // (a calibrated float32 scalar), or per batch when that is undefined. Saved as
  // "W.int8", "W.scale" and "W.input_scale".
  struct Int8 {
    Tensor q, scale, input_scale;
    // Binary weights: q holds only +1 and -1 (files store them one bit each).
    bool binary() const;
  };
  const Int8* quantized() const { return int8_.get(); }
  // For int8 convolution filters (q of four dimensions): q in the order the int8
  // convolution multiplies it (F::int8_conv_filters), made once by set_int8; else undefined.
  const Tensor& int8_conv_filters() const { return int8_filters_; }
  // Shared weights (Deep Compression's k-means): the parameter's own array is the
  // codebook of k centroids (float, trained like any parameter: a centroid's gradient is
  // the sum of its members'), and the weights are codebook[indices] in `shape`. Saved as
  // "W.codebook", "W.indices" (4-bit packed when k <= 16, else 8-bit) and "W.shape".
  struct Codebook {
    Tensor indices;  // int32, the weights' shape
  };
  const Codebook* codebook() const { return codebook_.get(); }
  // Makes this parameter a codebook: `centroids` (k) become its array.
  void set_codebook(const Tensor& centroids, const Tensor& indices);
  // Quantization-aware training: while set, the weights a layer computes with are
  // fake-quantized (F::fake_quantize: int8 per output channel, or "binary": sign times the
  // channel's mean |w|), with a straight-through gradient. "" (the default): none.
  const std::string& fake_quant() const { return fake_quant_; }
  void set_fake_quant(const std::string& scheme);
  // The float weights a layer computes with: the parameter itself, the codebook's
  // weights, or the fake-quantized ones. (Quantized parameters have none: layers use
  // quantized() instead.)
  Variable weight() const;
  // Replaces the float array by `q`: the parameter is then quantized (and not
  // initialized in the float sense).
  void set_int8(Int8 q);
  bool is_quantized() const { return int8_ != nullptr; }
  // The shape of the weights whatever the form (float, pending or quantized); none while
  // a lazy parameter has no shape yet.
  std::optional<Shape> weight_shape() const;
  // The dtype files store the values in when it differs from the parameter's (a float16
  // or bfloat16 cast: half the bytes; computed in the parameter's own dtype). A file that
  // stores a float32 parameter as float16 sets it on load. None: the parameter's.
  std::optional<Dtype> storage_dtype() const { return storage_dtype_; }
  void set_storage_dtype(std::optional<Dtype> d);

 private:
  Initializer init_;
  Tensor mask_;
  std::shared_ptr<Int8> int8_;
  Tensor int8_filters_;
  std::shared_ptr<Codebook> codebook_;
  // Inference (no graph) reuses the codebook's weights gathered last while the centroids
  // hold the same values; behind a mutex, as one model may run on several threads.
  struct Gathered;
  std::shared_ptr<Gathered> gathered_;
  std::string fake_quant_;
  std::optional<Dtype> storage_dtype_;
  Dtype dtype_ = float32;
  bool update_enabled_ = true;
  bool pending_ = false;
  Shape pending_shape_;
};

// While one lives on a thread, parameters initialized on that thread record their shapes
// and allocate nothing (a model built only to be loaded from a file: load_model, which
// then needs no memory for initial values it would overwrite).
class DeferredParameters {
 public:
  DeferredParameters();
  ~DeferredParameters();
  DeferredParameters(const DeferredParameters&) = delete;
  DeferredParameters& operator=(const DeferredParameters&) = delete;

 private:
  bool outer_;
};

class Link : public Serializable {
 public:
  Link() = default;
  virtual ~Link() = default;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Parameters with Chainer's path names ("/l1/W"), depth first, in registration order.
  std::vector<std::pair<std::string, Parameter*>> namedparams();
  std::vector<Parameter*> params();
  // Child links with their paths ("/l1"), this link included as "/".
  std::vector<std::pair<std::string, Link*>> namedlinks();
  void cleargrads();
  // Move every parameter (and persistent array) to `device`; uninitialized ones will be
  // made there.
  void to_device(Device& device);
  Device& device() const;  // where its parameters live (the default device until to_device)
  // Freeze or unfreeze every parameter (transfer learning).
  void disable_update();
  void enable_update();
  // Chainer's persistent values: arrays saved with the link but not trained.
  std::vector<std::pair<std::string, Tensor*>> namedpersistents();
  // Chainer's Link.copy: a link of the same architecture whose parameters and persistent
  // values share this link's arrays ("share"), are copies of them ("copy"), or are freshly
  // initialised ("init"). Gradients are never shared. Needs make_like().
  enum class CopyMode { share, copy, init };
  std::unique_ptr<Link> copy(CopyMode mode = CopyMode::share);
  // A new link of the same architecture with fresh parameters. The in-tree links and
  // models implement it; a user's Chain overrides it to be copyable.
  virtual std::unique_ptr<Link> make_like() const;

  // How this link is made again from registered parts, for whole-model files (see
  // catena/model_file.hpp): its registered type and attributes, and its parts (a
  // Sequential's steps, a Classifier's predictor; a step that is a function has
  // function = true). The in-tree links and models say; an empty type means the link's
  // forward is known only to its C++ class.
  struct Recipe {
    std::string type;
    std::map<std::string, double> attributes;
    std::vector<Recipe> parts;
    bool function = false;
  };
  virtual Recipe recipe() const { return {}; }

  // Chainer's Link.serialize: the parameters (None when uninitialised), then the persistent
  // values, then each child under its name. Loading copies into initialised parameters
  // (same shape; the dtype converted) and initialises lazy ones from the stored array (a
  // pending one only from an array of its shape). A lazy parameter stored as None stays
  // uninitialised only in a non-strict load; strict, it is an error naming the key.
  void serialize(Serializer& s) override;

  // The links data flows through, in order, when this link's forward is a chain whose
  // steps between two links act on each channel (unit) alone — activations, pooling,
  // dropout, flattening — so that removing a layer's output channel removes the next
  // layer's input channel and nothing else (structured pruning needs that). Empty when the
  // forward is not such a chain (the default).
  virtual std::vector<Link*> sequence() { return {}; }
  // Called after a compressor changed the shapes of this link's parameters (structured
  // pruning): the link takes its sizes from them again.
  virtual void shapes_changed() {}

  // The one-input forward of links that have one (Linear, Convolution2D, a Sequential
  // ...); others throw, naming the link.
  virtual Variable forward(const Variable& x);
  Variable operator()(const Variable& x) { return forward(x); }

 protected:
  void register_param(const std::string& name, Parameter& p);
  void register_link(const std::string& name, Link& child);
  void register_persistent(const std::string& name, Tensor& value);

 private:
  void check_name(const std::string& name) const;
  std::vector<std::pair<std::string, Parameter*>> params_;
  std::vector<std::pair<std::string, Link*>> children_;
  std::vector<std::pair<std::string, Tensor*>> persistents_;
  Device* device_ = nullptr;

  friend class ChainList;
};

// A link of links (Chainer's Chain): subclasses register children in their constructor.
class Chain : public Link {};

// Children named "0", "1", ... by position; owned by the list.
class ChainList : public Link {
 public:
  Link& append(std::unique_ptr<Link> link);
  size_t size() const { return owned_.size(); }
  Link& operator[](size_t i) { return *owned_.at(i); }

 private:
  std::vector<std::unique_ptr<Link>> owned_;
};

// One example or batch: Chainer's tuple of arrays (x, t).
using Example = std::vector<Tensor>;

// A link that computes a loss from a batch (Chainer's "target(*in_arrays)"): what the
// StandardUpdater and the Evaluator call when no loss function is given.
class LossLink {
 public:
  virtual ~LossLink() = default;
  virtual Variable loss(const Example& batch) = 0;
};

}  // namespace catena
