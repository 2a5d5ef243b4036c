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
#include <optional>
#include <string>
#include <vector>

namespace catena {

// A flat key space of host arrays in insertion order. A key may hold None (Chainer's
// None: an uninitialised parameter, an unset value).
class KeyStore {
 public:
  void put(const std::string& key, const Tensor& value);  // replaces an existing key
  void put_none(const std::string& key);
  // The array under key; nullptr when the key is absent or None.
  const Tensor* find(const std::string& key) const;
  bool contains(const std::string& key) const;  // present, None included
  bool is_none(const std::string& key) const;
  const std::vector<std::string>& keys() const { return order_; }
  size_t size() const { return order_.size(); }
  // Total bytes of the arrays.
  uint64_t nbytes() const;

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::optional<Tensor>> items_;
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
  // `file` names the file in error messages; `path` is the sub-tree ("predictor/").
  Serializer(KeyStore& store, Mode mode, std::string file = "", bool strict = true, std::string path = "");

  // The child key space `name/` (Chainer's serializer['name']).
  Serializer operator[](const std::string& name) const;
  bool saving() const { return mode_ == Mode::save; }
  bool loading() const { return mode_ != Mode::save; }
  // Loading, second pass: values may be assigned now.
  bool applying() const { return mode_ == Mode::load; }
  bool strict() const { return strict_; }
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
  // An error about `key` in this file, with a hint.
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

 private:
  KeyStore* store_;
  Mode mode_;
  std::string file_;
  bool strict_;
  std::string path_;
};

// --- Formats ---------------------------------------------------------------------------

// A file format for key spaces, registered by name ("npz", "hdf5").
struct SerializerFormat {
  std::string name;
  std::vector<std::string> extensions;                  // ".npz"
  std::function<bool(const std::string& head)> sniff;   // the file's first bytes are ours
  std::function<void(const std::string& path, const KeyStore& store, bool compress)> write;
  std::function<KeyStore(const std::string& path)> read;
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

// Reads a whole file into a key space (format: as guessed when empty).
KeyStore read_keys(const std::string& path, const std::string& format = "");
// Writes a key space (format: by the extension, npz when it says nothing).
void write_keys(const std::string& path, const KeyStore& store, const std::string& format = "", bool compress = false);

// Serializes `obj` into a file: atomically (temporary file, fsync, rename).
void save(const std::string& path, Serializable& obj, const std::string& format = "", bool compress = false);
// Loads `obj` from a file, from the sub-tree `path` ("updater/model:main/"). Nothing
// changes unless every key fits (strict: every key must be there).
void load(const std::string& file, Serializable& obj, const std::string& path = "", bool strict = true,
          const std::string& format = "");
// The same with a key space already read.
void load(const KeyStore& store, Serializable& obj, const std::string& file, const std::string& path = "",
          bool strict = true);

}  // namespace catena
