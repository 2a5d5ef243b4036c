// Chainer's serializer protocol: an object writes and reads itself into one hierarchical
// key space ("updater/model:main/predictor/l1/W"), and a format (npz, hdf5) stores that
// key space in a file.
//
//   struct MyState : catena::Serializable {
//     int64_t step = 0;  catena::Tensor table;
//     void serialize(catena::Serializer& s) override { s("step", step); s["tables"]("main", table); }
//   };
//   catena::save("state.npz", state);           // the format follows the extension
//   catena::load("state.npz", state);           // all or nothing
//
// Loading runs serialize() twice: first checking every key (present, shape, type) without
// changing anything, then assigning. An object's serialize() must therefore call the same
// keys in both passes and change nothing unless s.applying().
#pragma once

#include <catena/tensor.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace catena {

// An array a file holds, read when it is asked for: a format lists its keys with their
// dtypes and shapes from the file's headers, and reads the values (checking their
// checksums) only for the keys used, straight into where they go when it can.
class StoredArray {
 public:
  StoredArray(Dtype dtype, const Shape& shape) : dtype_(dtype), shape_(shape) {}
  virtual ~StoredArray() = default;
  Dtype dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  uint64_t nbytes() const { return uint64_t(shape_.numel()) * dtype_.size(); }
  // The values in a new tensor on the cpu device, checked; throws catena::Error naming the
  // file and the key when they are damaged.
  virtual Tensor read() const = 0;
  // The values into `dst`: nbytes() of contiguous row-major host memory of this dtype.
  // The default reads a tensor and copies it.
  virtual void read_into(void* dst) const;
  // Whether read_into() fills `dst` without a temporary copy of the whole array.
  virtual bool direct() const { return false; }
  // Whether verify() costs much less than read() (a checksum over bytes in place).
  virtual bool checks_cheaply() const { return false; }
  // Checks the values without keeping them (the default reads them).
  virtual void verify() const { read(); }

 private:
  Dtype dtype_;
  Shape shape_;
};

// A flat key space of host arrays in insertion order. A key may hold None (Chainer's
// None: an uninitialised parameter, an unset value). Arrays are tensors, or stored arrays
// read on first use (a file's store holds those: see read_keys).
class KeyStore {
 public:
  void put(const std::string& key, const Tensor& value);  // replaces an existing key
  void put_none(const std::string& key);
  void put_stored(const std::string& key, std::shared_ptr<const StoredArray> value);
  // The array under key, read if stored (and kept from then on); nullptr when the key is
  // absent or None.
  const Tensor* find(const std::string& key) const;
  bool contains(const std::string& key) const;  // present, None included
  bool is_none(const std::string& key) const;
  // The dtype and shape of key's array, without reading it; false for None or a missing key.
  bool describe(const std::string& key, Dtype* dtype, Shape* shape) const;
  // The array under key as a tensor nobody else holds: a stored array read afresh (not
  // kept here), a tensor cloned. For moving values into a model.
  Tensor fresh(const std::string& key) const;
  // The same, but a tensor the store holds is handed over, not cloned, and the key then
  // holds nothing (describe() still answers; find() and take() fail). For a store read
  // for one load only.
  Tensor take(const std::string& key);
  // The array under key converted into `dst` (defined, the same shape; any dtype or
  // device): a stored array is read straight into dst's memory when dst is contiguous host
  // memory of its dtype, so it is never held twice.
  void read_into(const std::string& key, Tensor& dst) const;
  // Makes sure key's values are sound before anything is changed (loading is all or
  // nothing): a stored array is checked where that is cheap (an npz entry's CRC-32), read
  // and kept otherwise.
  void verify(const std::string& key) const;
  // The array under key for reading once (a writer's): find()'s, without keeping a stored
  // array read for it.
  Tensor peek(const std::string& key) const;
  const std::vector<std::string>& keys() const { return order_; }
  size_t size() const { return order_.size(); }
  // Total bytes of the arrays.
  uint64_t nbytes() const;

 private:
  struct Item {
    bool none = false;
    bool taken = false;
    mutable std::optional<Tensor> tensor;
    std::shared_ptr<const StoredArray> stored;
  };
  const Item* item(const std::string& key) const;
  std::vector<std::string> order_;
  std::map<std::string, Item> items_;
};

class Serializer;

// Anything that writes and reads itself into a key space (Chainer's serialize()).
class Serializable {
 public:
  virtual ~Serializable() = default;
  virtual void serialize(Serializer& s) = 0;
};

class Serializer {
 public:
  enum class Mode { save, check, load };
  // How a load may use its store (bits of `flags`):
  enum : unsigned {
    // The store was read for this load alone: values may be taken from it, not cloned.
    kTakeValues = 1,
    // The object was made for this load and is thrown away if it fails (a whole model
    // being loaded): values need not be checked before the pass that assigns them.
    kFreshObject = 2,
  };
  // `file` names the file in error messages; `path` is the sub-tree ("predictor/").
  Serializer(KeyStore& store, Mode mode, std::string file = "", bool strict = true, std::string path = "",
             unsigned flags = 0);

  // The child key space `name/` (Chainer's serializer['name']).
  Serializer operator[](const std::string& name) const;
  bool saving() const { return mode_ == Mode::save; }
  bool loading() const { return mode_ != Mode::save; }
  // Loading, second pass: values may be assigned now.
  bool applying() const { return mode_ == Mode::load; }
  bool strict() const { return strict_; }
  // Loading into an object made for this load (kFreshObject): a whole model.
  bool fresh_object() const { return flags_ & kFreshObject; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  // Whether the key is in the file (None included): for optional keys.
  bool contains(const std::string& key) const;
  // The full key of `key` here.
  std::string key(const std::string& key) const { return path_ + key; }

  // Saving: value on the host (an undefined Tensor is stored as None; an array already on
  // the host is referred to, not copied: write the key space before changing it). Loading: the
  // stored array converted to value's dtype and copied onto value's device, when the
  // shapes match; an undefined value takes the stored array as it is. Returns whether a
  // value was read: false for None, or for a missing key when not strict (a missing key
  // when strict is an error naming the file and the key).
  bool operator()(const std::string& key, Tensor& value);
  // Scalars, stored as 0-d arrays (int64, float64, bool) as Chainer stores Python's.
  bool operator()(const std::string& key, int64_t& value);
  bool operator()(const std::string& key, uint64_t& value);
  bool operator()(const std::string& key, double& value);
  bool operator()(const std::string& key, bool& value);
  // Text, stored as a uint8 array of its UTF-8 bytes.
  bool operator()(const std::string& key, std::string& value);

  // Lower level, for values that need their own checks. Saving: store `value`.
  void put(const std::string& key, const Tensor& value);
  // Loading: the stored array, nullptr for None or a missing key (not strict). A missing
  // key when strict throws.
  const Tensor* get(const std::string& key) const;
  // Loading, for large arrays (what get() does, without reading the values): the stored
  // array's dtype and shape; false for None or a missing key (not strict).
  bool describe(const std::string& key, Dtype* dtype, Shape* shape) const;
  // Loading, first pass: checks the values of key (a damaged array fails here, before
  // anything changed), unless the object is fresh (kFreshObject).
  void verify(const std::string& key) const;
  // Loading, second pass: the stored values converted into `dst` (same shape), read
  // straight into its memory when they can be.
  void read_into(const std::string& key, Tensor& dst) const;
  // Loading, second pass: the stored array as a tensor of the caller's own (taken from the
  // store with kTakeValues, else fresh: see KeyStore).
  Tensor take(const std::string& key) const;
  // An error about `key` in this file, with a hint.
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

 private:
  KeyStore* store_;
  Mode mode_;
  std::string file_;
  bool strict_;
  std::string path_;
  unsigned flags_;
};

// --- Formats ---------------------------------------------------------------------------

// A file format for key spaces, registered by name ("npz", "hdf5").
struct SerializerFormat {
  std::string name;
  std::vector<std::string> extensions;                  // ".npz"
  std::function<bool(const std::string& head)> sniff;   // the file's first bytes are ours
  std::function<void(const std::string& path, const KeyStore& store, bool compress)> write;
  std::function<KeyStore(const std::string& path)> read;
  // (optional) Every key with its dtype and shape from the file's headers, values read
  // only when asked for; read() serves when this is empty.
  std::function<KeyStore(const std::string& path)> list;
  std::string unavailable;  // why this build cannot use it ("" when it can)
};
// Registers a format; a name already taken is an error.
void register_format(SerializerFormat format);
std::vector<std::string> format_names();
// By name; an unknown name lists the known ones.
const SerializerFormat& serializer_format(const std::string& name);
// The format of an existing file (by its first bytes), else by its extension; "" when
// neither says.
std::string guess_format(const std::string& path);

// A file's key space (format: as guessed when empty). Arrays of formats that can (npz)
// are read when first used; their checksums are checked before their values are.
KeyStore read_keys(const std::string& path, const std::string& format = "");
// What a file holds, from its headers (values are read only when asked for): for
// listing a file (catena inspect).
KeyStore list_keys(const std::string& path, const std::string& format = "");
// Writes a key space (format: by the extension, npz when it says nothing).
void write_keys(const std::string& path, const KeyStore& store, const std::string& format = "", bool compress = false);

// Serializes `obj` into a file: atomically (temporary file, fsync, rename).
void save(const std::string& path, Serializable& obj, const std::string& format = "", bool compress = false);
// Loads `obj` from a file, from the sub-tree `path` ("updater/model:main/"). Nothing
// changes unless every key fits (strict: every key must be there).
void load(const std::string& file, Serializable& obj, const std::string& path = "", bool strict = true,
          const std::string& format = "");
// The same with a key space already read (`flags`: Serializer's kTakeValues,
// kFreshObject; a store given without kTakeValues is left as it was).
void load(const KeyStore& store, Serializable& obj, const std::string& file, const std::string& path = "",
          bool strict = true, unsigned flags = 0);

}  // namespace catena
