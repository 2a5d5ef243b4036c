// The key space, the Serializer and the registry of formats.
#include <catena/files.hpp>
#include <catena/ops.hpp>
#include <catena/runtime.hpp>
#include <catena/serializer.hpp>

#include <cctype>
#include <cstring>
#include <mutex>

namespace catena {

// --- KeyStore --------------------------------------------------------------------------

void StoredArray::read_into(void* dst) const {
  Tensor t = read();
  t.copy_to_host(dst, size_t(nbytes()));
}

void KeyStore::put(const std::string& key, const Tensor& value) {
  auto [it, fresh] = items_.insert_or_assign(key, Item{});
  it->second.tensor = value;
  if (fresh) order_.push_back(key);
}

void KeyStore::put_none(const std::string& key) {
  auto [it, fresh] = items_.insert_or_assign(key, Item{});
  it->second.none = true;
  if (fresh) order_.push_back(key);
}

void KeyStore::put_stored(const std::string& key, std::shared_ptr<const StoredArray> value) {
  if (!value) throw Error(CT_INVALID_ARGUMENT, "KeyStore::put_stored: no array for '" + key + "'");
  auto [it, fresh] = items_.insert_or_assign(key, Item{});
  it->second.stored = std::move(value);
  if (fresh) order_.push_back(key);
}

const KeyStore::Item* KeyStore::item(const std::string& key) const {
  auto it = items_.find(key);
  if (it == items_.end() || it->second.none) return nullptr;
  if (it->second.taken)
    throw Error(CT_FAILED_PRECONDITION, "KeyStore: the array under '" + key + "' was taken by a load");
  return &it->second;
}

const Tensor* KeyStore::find(const std::string& key) const {
  const Item* i = item(key);
  if (!i) return nullptr;
  if (!i->tensor) i->tensor = i->stored->read();
  return &*i->tensor;
}

bool KeyStore::contains(const std::string& key) const { return items_.count(key) != 0; }

bool KeyStore::is_none(const std::string& key) const {
  auto it = items_.find(key);
  return it != items_.end() && it->second.none;
}

bool KeyStore::describe(const std::string& key, Dtype* dtype, Shape* shape) const {
  auto it = items_.find(key);
  if (it == items_.end() || it->second.none) return false;
  const Item& i = it->second;
  if (i.stored) *dtype = i.stored->dtype(), *shape = i.stored->shape();
  else if (i.tensor) *dtype = i.tensor->dtype(), *shape = i.tensor->shape();
  else throw Error(CT_FAILED_PRECONDITION, "KeyStore: the array under '" + key + "' was taken by a load");
  return true;
}

Tensor KeyStore::fresh(const std::string& key) const {
  const Item* i = item(key);
  if (!i) throw Error(CT_NOT_FOUND, "KeyStore: no array under '" + key + "'");
  return i->tensor ? i->tensor->clone() : i->stored->read();
}

Tensor KeyStore::take(const std::string& key) {
  const Item* found = item(key);
  if (!found) throw Error(CT_NOT_FOUND, "KeyStore: no array under '" + key + "'");
  Item& i = items_.find(key)->second;
  if (!i.tensor) return i.stored->read();  // stays stored: a later take reads it again
  Tensor t = std::move(*i.tensor);
  i.tensor.reset();
  if (!i.stored) i.taken = true;
  return t;
}

void KeyStore::read_into(const std::string& key, Tensor& dst) const {
  const Item* i = item(key);
  if (!i) throw Error(CT_NOT_FOUND, "KeyStore: no array under '" + key + "'");
  if (!i->tensor && i->stored->direct() && dst.device().host_addressable() &&
      (dst.device().flags() & CT_DEVICE_SYNCHRONOUS) && dst.is_contiguous() && dst.dtype() == i->stored->dtype() &&
      dst.shape() == i->stored->shape()) {
    if (dst.numel()) i->stored->read_into(dst.host_data());
    return;
  }
  const Tensor v = i->tensor ? *i->tensor : i->stored->read();
  ops::copy(dst, v.astype(dst.dtype()).to(dst.device()));
}

void KeyStore::verify(const std::string& key) const {
  const Item* i = item(key);
  if (!i || i->tensor) return;
  if (i->stored->checks_cheaply()) i->stored->verify();
  else i->tensor = i->stored->read();
}

Tensor KeyStore::peek(const std::string& key) const {
  const Item* i = item(key);
  if (!i) return Tensor();
  return i->tensor ? *i->tensor : i->stored->read();
}

uint64_t KeyStore::nbytes() const {
  uint64_t n = 0;
  for (auto& [k, v] : items_) {
    if (v.stored) n += v.stored->nbytes();
    else if (v.tensor) n += uint64_t(v.tensor->numel()) * v.tensor->dtype().size();
  }
  return n;
}

// --- Serializer ------------------------------------------------------------------------

namespace {

// Chainer strips slashes at both ends of a child's name and at the start of a key.
std::string strip(const std::string& s, bool both) {
  size_t b = s.find_first_not_of('/');
  if (b == std::string::npos) return "";
  size_t e = both ? s.find_last_not_of('/') + 1 : s.size();
  return s.substr(b, e - b);
}

std::string file_label(const std::string& file) { return file.empty() ? "serializer" : file; }

}  // namespace

Serializer::Serializer(KeyStore& store, Mode mode, std::string file, bool strict, std::string path, unsigned flags)
    : store_(&store), mode_(mode), file_(std::move(file)), strict_(strict), path_(std::move(path)), flags_(flags) {
  if (!path_.empty() && path_.back() != '/') path_ += '/';
}

Serializer Serializer::operator[](const std::string& name) const {
  Serializer child = *this;
  child.path_ = path_ + strip(name, true) + "/";
  return child;
}

void Serializer::fail(const std::string& key, const std::string& what) const {
  throw Error(CT_INVALID_ARGUMENT, file_label(file_) + ": '" + path_ + strip(key, false) + "' " + what);
}

void Serializer::put(const std::string& key, const Tensor& value) {
  if (!saving()) throw Error(CT_INVALID_ARGUMENT, "Serializer::put called while loading");
  const std::string k = path_ + strip(key, false);
  if (store_->contains(k))
    throw Error(CT_ALREADY_EXISTS, file_label(file_) + ": the key '" + k + "' is written twice (two values with one name)");
  if (!value.defined()) {
    store_->put_none(k);
    return;
  }
  // On the host; an array already there is not copied (the key space is written before
  // training goes on).
  store_->put(k, value.to(runtime().cpu()));
}

bool Serializer::contains(const std::string& key) const { return store_->contains(path_ + strip(key, false)); }

const Tensor* Serializer::get(const std::string& key) const {
  const std::string k = path_ + strip(key, false);
  if (const Tensor* t = store_->find(k)) return t;
  if (store_->is_none(k)) return nullptr;
  if (strict_)
    throw Error(CT_NOT_FOUND, file_label(file_) + ": no key '" + k +
                                  "' (load non-strictly to skip missing keys, or give the sub-tree path, e.g. "
                                  "'updater/model:main/' for a model inside a trainer snapshot)");
  return nullptr;
}

bool Serializer::describe(const std::string& key, Dtype* dtype, Shape* shape) const {
  const std::string k = path_ + strip(key, false);
  if (store_->describe(k, dtype, shape)) return true;
  if (store_->is_none(k)) return false;
  get(key);  // missing: throws when strict
  return false;
}

void Serializer::verify(const std::string& key) const {
  if (!(flags_ & kFreshObject)) store_->verify(path_ + strip(key, false));
}

void Serializer::read_into(const std::string& key, Tensor& dst) const {
  store_->read_into(path_ + strip(key, false), dst);
}

Tensor Serializer::take(const std::string& key) const {
  const std::string k = path_ + strip(key, false);
  return flags_ & kTakeValues ? store_->take(k) : store_->fresh(k);
}

bool Serializer::operator()(const std::string& key, Tensor& value) {
  if (saving()) {
    put(key, value);
    return true;
  }
  Dtype dtype;
  Shape shape;
  if (!describe(key, &dtype, &shape)) return false;
  if (value.defined() && shape != value.shape())
    fail(key, "has shape " + shape.str() + ", but the value it loads into has " + value.shape().str());
  if (value.defined() && dtype != value.dtype() && (dtype.is_float() != value.dtype().is_float()))
    fail(key, std::string("is ") + dtype.name() + ", which does not convert to " + value.dtype().name());
  if (!applying()) {
    verify(key);
    return true;
  }
  if (value.defined()) read_into(key, value);
  else value = take(key);
  return true;
}

namespace {

template <class T>
bool scalar_io(Serializer& s, const std::string& key, T& value, Dtype dtype) {
  if (s.saving()) {
    s.put(key, Tensor::from_host(&value, sizeof(T), Shape(), dtype, runtime().cpu()));
    return true;
  }
  const Tensor* v = s.get(key);
  if (!v) return false;
  if (v->numel() != 1) s.fail(key, "holds " + v->shape().str() + ", not one number");
  if (std::is_integral_v<T> && v->dtype().is_float()) s.fail(key, "is a floating-point number, not an integer");
  if (!s.applying()) return true;
  Tensor t = v->astype(dtype).contiguous();
  T out;
  t.copy_to_host(&out, sizeof(T));
  value = out;
  return true;
}

}  // namespace

bool Serializer::operator()(const std::string& key, int64_t& value) { return scalar_io(*this, key, value, int64); }
bool Serializer::operator()(const std::string& key, uint64_t& value) {
  // Stored as int64's bits, as numpy has no unsigned scalar Chainer would write.
  int64_t v = static_cast<int64_t>(value);
  bool got = scalar_io(*this, key, v, int64);
  if (got && applying()) value = static_cast<uint64_t>(v);
  return got;
}
bool Serializer::operator()(const std::string& key, double& value) { return scalar_io(*this, key, value, float64); }
bool Serializer::operator()(const std::string& key, bool& value) {
  if (saving()) {
    uint8_t b = value ? 1 : 0;
    put(key, Tensor::from_host(&b, 1, Shape(), bool_, runtime().cpu()));
    return true;
  }
  const Tensor* v = get(key);
  if (!v) return false;
  if (v->numel() != 1) fail(key, "holds " + v->shape().str() + ", not one boolean");
  if (!applying()) return true;
  uint8_t b = 0;
  v->astype(bool_).contiguous().copy_to_host(&b, 1);
  value = b != 0;
  return true;
}

bool Serializer::operator()(const std::string& key, std::string& value) {
  if (saving()) {
    put(key, Tensor::from_host(value.data(), value.size(), Shape{int64_t(value.size())}, uint8, runtime().cpu()));
    return true;
  }
  const Tensor* v = get(key);
  if (!v) return false;
  if (v->dtype() != uint8 || v->ndim() != 1) fail(key, "is not text (a 1-D uint8 array)");
  if (!applying()) return true;
  std::string s(size_t(v->numel()), '\0');
  if (!s.empty()) v->copy_to_host(&s[0], s.size());
  value = std::move(s);
  return true;
}

// --- Formats ---------------------------------------------------------------------------

namespace {

std::mutex& formats_mutex() {
  static std::mutex m;
  return m;
}
std::vector<SerializerFormat>& formats() {
  static std::vector<SerializerFormat> f;
  return f;
}

std::string lower_extension(const std::string& path) {
  size_t slash = path.find_last_of('/'), dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot);
  for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

}  // namespace

// The built-in formats register themselves on first use of the registry.
void register_builtin_formats();

namespace {
void ensure_builtins() {
  static std::once_flag once;
  std::call_once(once, [] { register_builtin_formats(); });
}
}  // namespace

void register_format(SerializerFormat format) {
  std::lock_guard<std::mutex> g(formats_mutex());
  for (auto& f : formats())
    if (f.name == format.name) throw Error(CT_ALREADY_EXISTS, "a serializer format named '" + format.name + "' exists");
  formats().push_back(std::move(format));
}

std::vector<std::string> format_names() {
  ensure_builtins();
  std::lock_guard<std::mutex> g(formats_mutex());
  std::vector<std::string> names;
  for (auto& f : formats()) names.push_back(f.name);
  return names;
}

const SerializerFormat& serializer_format(const std::string& name) {
  ensure_builtins();
  std::lock_guard<std::mutex> g(formats_mutex());
  std::string known;
  for (auto& f : formats()) {
    if (f.name == name || (name == "h5" && f.name == "hdf5")) return f;
    known += (known.empty() ? "" : ", ") + f.name;
  }
  throw Error(CT_NOT_FOUND, "unknown serializer format '" + name + "' (known: " + known + ")");
}

std::string guess_format(const std::string& path) {
  ensure_builtins();
  std::string head;
  try {
    head = InputFile(path).head(16);
  } catch (const Error&) {  // not there, or not a file: the extension says
  }
  std::lock_guard<std::mutex> g(formats_mutex());
  if (!head.empty())
    for (auto& f : formats())
      if (f.sniff && f.sniff(head)) return f.name;
  const std::string ext = lower_extension(path);
  for (auto& f : formats())
    for (auto& e : f.extensions)
      if (e == ext) return f.name;
  return "";
}

namespace {

// The format that reads `path`: `format`, else what its first bytes say (the file must be
// a regular file that may be read).
const SerializerFormat& reader_of(const std::string& path, const std::string& format) {
  std::string name = format;
  if (name.empty()) {
    const std::string head = InputFile(path).head(16);
    std::vector<std::string> all = format_names();
    {
      std::lock_guard<std::mutex> g(formats_mutex());
      for (auto& f : formats())
        if (f.sniff && f.sniff(head)) name = f.name;
    }
    if (name.empty()) {
      std::string known;
      for (auto& n : all) known += (known.empty() ? "" : ", ") + n;
      throw Error(CT_INVALID_ARGUMENT, path + ": not a file of a known format (" + known + ")" +
                                           (head.empty() ? ": it is empty" : ""));
    }
  }
  const SerializerFormat& f = serializer_format(name);
  if (!f.unavailable.empty()) throw Error(CT_UNIMPLEMENTED, path + ": " + f.unavailable);
  return f;
}

}  // namespace

KeyStore read_keys(const std::string& path, const std::string& format) { return reader_of(path, format).read(path); }

KeyStore list_keys(const std::string& path, const std::string& format) {
  const SerializerFormat& f = reader_of(path, format);
  return f.list ? f.list(path) : f.read(path);
}

void write_keys(const std::string& path, const KeyStore& store, const std::string& format, bool compress) {
  std::string name = format;
  if (name.empty()) {
    const std::string ext = lower_extension(path);
    ensure_builtins();
    {
      std::lock_guard<std::mutex> g(formats_mutex());
      for (auto& f : formats())
        for (auto& e : f.extensions)
          if (e == ext) name = f.name;
    }
    if (name.empty()) name = "npz";
  }
  const SerializerFormat& f = serializer_format(name);
  if (!f.unavailable.empty()) throw Error(CT_UNIMPLEMENTED, path + ": " + f.unavailable);
  f.write(path, store, compress);
}

void save(const std::string& path, Serializable& obj, const std::string& format, bool compress) {
  KeyStore store;
  Serializer s(store, Serializer::Mode::save, path);
  obj.serialize(s);
  write_keys(path, store, format, compress);
}

void load(const KeyStore& store, Serializable& obj, const std::string& file, const std::string& path, bool strict,
          unsigned flags) {
  // Loading changes the store only by taking values from it, and only with kTakeValues.
  KeyStore& keys = const_cast<KeyStore&>(store);
  Serializer check(keys, Serializer::Mode::check, file, strict, path, flags);
  obj.serialize(check);
  Serializer apply(keys, Serializer::Mode::load, file, strict, path, flags);
  obj.serialize(apply);
}

void load(const std::string& file, Serializable& obj, const std::string& path, bool strict, const std::string& format) {
  KeyStore store = read_keys(file, format);
  load(store, obj, file, path, strict, Serializer::kTakeValues);
}

}  // namespace catena
