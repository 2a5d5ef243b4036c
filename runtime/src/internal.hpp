// libcatena's internal types. Not installed; nothing outside runtime/ includes this.
#pragma once

#include <catena/abi.h>
#include <catena/error.hpp>
#include <catena/runtime.hpp>
#include <catena/ops.hpp>
#include <catena/tensor.hpp>

#include <atomic>
#include <thread>
#include <map>
#include <memory>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

struct ct_status {
  int32_t code;
  std::string message;
};

namespace catena {

ct_status* make_status(ct_code code, const std::string& message);
// Throw catena::Error(code, context + ": " + message) and free `s`.
[[noreturn]] void fail_status(ct_status* s, const std::string& context);
// If `s` is an error, throw it with a context: a string, or a callable returning one
// (built only on failure, which keeps hot paths free of string work).
template <class Context>
inline void check_status(ct_status* s, Context&& context) {
  if (!s) return;
  if constexpr (std::is_invocable_v<Context>) fail_status(s, context());
  else fail_status(s, std::string(context));
}
const ct_host* host_services();
// Write a warning to stderr, prefixed "catena: warning: ".
void warn(const std::string& message);
// An integer setting from the environment: unset or empty gives the default; anything
// else that is not an integer in [lo, hi] is warned about and the default used.
int64_t env_integer(const char* name, int64_t fallback, int64_t lo, int64_t hi);
// The interned copy of an op name (stable address for the process).
const char* intern(const char* name);
std::vector<std::string> split(const std::string& s, char sep);

// A lock for critical sections of a few instructions (the allocator's free lists, the
// support cache): cheaper than a mutex when uncontended, and yields when it is not.
class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire))
      std::this_thread::yield();
  }
  void unlock() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

class Backend {
 public:
  enum class State { not_initialised, ready, init_failed, unavailable };

  Backend(std::string name, std::string path, std::string version, const ct_backend* table, size_t record);
  // Initialise once (thread-safe). Returns true when ready.
  bool ensure_init();
  State state() const { return state_; }
  const std::string& message() const { return message_; }
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  const std::string& version() const { return version_; }
  const ct_backend& table() const { return table_; }
  ct_backend_ctx* ctx() const { return ctx_; }
  const std::vector<std::unique_ptr<Device>>& devices() const { return devices_; }
  size_t record() const { return record_; }

 private:
  std::string name_, path_, version_;
  ct_backend table_{};  // the plugin's table, zero-filled beyond its struct_size
  ct_backend_ctx* ctx_ = nullptr;
  State state_ = State::not_initialised;
  std::string message_;
  std::vector<std::unique_ptr<Device>> devices_;
  std::mutex mutex_;
  size_t record_;  // index into the load report
};

// Per-device state the public Device hides.
struct Device::Impl {
  const ct_backend* table = nullptr;
  ct_backend_ctx* ctx = nullptr;
  int32_t index = 0;  // within the backend
  int32_t dl_device_type = 0;
  ct_stream* stream = nullptr;
  std::mutex stream_mutex;  // one thread at a time on the stream

  // Caching allocator: free buffers by rounded size.
  SpinLock alloc_mutex;
  // Free buffers by size class (see round_allocation): index 4 log2(size) + quarter step.
  std::vector<ct_buffer*> free_lists[256];
  AllocatorStats stats;

  // supports_op cache.
  SpinLock support_mutex;
  std::unordered_map<uint64_t, int32_t> support_cache;
  std::unordered_map<uint64_t, std::string> support_reason;
  uint64_t support_queries = 0;

  // Fallback accounting.
  std::mutex fallback_mutex;
  std::map<std::string, uint64_t> fallback_counts;
  std::set<std::string> warned;

  ct_buffer* allocate(uint64_t bytes, uint64_t* rounded);
  void release(ct_buffer* buffer, uint64_t rounded);
  void* buffer_data(ct_buffer* b) const { return table->buffer_data(ctx, b); }
};

uint64_t round_allocation(uint64_t bytes);
int size_class(uint64_t rounded);

class Storage {
 public:
  Storage(Device& device, uint64_t bytes);
  // Memory the device's backend wrapped (buffer_wrap): freed through the backend when the
  // storage goes, never cached.
  Storage(Device& device, ct_buffer* wrapped, uint64_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  Device& device() const { return *device_; }
  ct_buffer* buffer() const { return buffer_; }
  void* data() const { return data_; }
  uint64_t bytes() const { return bytes_; }

 private:
  Device* device_;
  ct_buffer* buffer_ = nullptr;
  void* data_ = nullptr;
  uint64_t bytes_;
  uint64_t rounded_ = 0;
};

struct Tensor::Impl {
  // A fresh tensor's storage shares one allocation with its impl (Tensor::empty); a view
  // keeps that allocation alive through `owner`.
  Storage* storage = nullptr;
  std::shared_ptr<const void> owner;
  Dtype dtype;
  Shape shape;
  int64_t strides[kMaxDims] = {};
  int64_t offset = 0;  // elements
  // Layout class for dispatch (0 contiguous, 1 strided, 2 zero or negative strides),
  // computed once when the tensor or view is made.
  int8_t layout = 0;
};

int compute_layout(const Shape& shape, const int64_t* strides);

// Threads a file reader or writer may use at once for one large array: the CPUs this
// process may run on, at most 8.
unsigned file_threads();

// A contiguous tensor on the cpu device over host memory Catena did not allocate (no
// copy); `release` runs once, on any thread, when the last view of it is gone.
Tensor wrap_host_memory(void* data, uint64_t bytes, const Shape& shape, Dtype dtype, std::function<void()> release);

// A shape and a dtype that come from outside (the C API, DLPack), checked as Catena can
// hold them: 0 to kMaxDims extents, none negative, an element count that fits; a dtype
// Catena has, one lane. Errors are CT_INVALID_ARGUMENT, their messages start with
// `where` ("from_dlpack: "; may be empty).
Shape checked_shape(const int64_t* dims, int64_t ndim, const std::string& where);
Dtype checked_dtype(ct_dtype dtype, const std::string& where);

// Contiguous row-major strides for `shape`.
void contiguous_strides(const Shape& shape, int64_t* strides);
// The smallest and largest element offsets a view touches (numel > 0).
void view_extent(const Shape& shape, const int64_t* strides, int64_t offset, int64_t* lo, int64_t* hi);

// config().debug: throw naming `label` if an output holds a NaN or an infinity.
void check_finite_debug(const std::string& label, const std::vector<Tensor>& outs);

// One axis in [-ndim, ndim), made non-negative; throws naming `fn` otherwise.
int normalize_axis(const std::string& fn, int axis, int ndim);
// Axes made non-negative, checked, distinct and sorted; empty means every axis.
std::vector<int> normalize_axes(const std::string& fn, const std::vector<int>& axes, int ndim);

// Dispatch with an Attrs list (name interned).
void dispatch_op(const char* name, std::initializer_list<const Tensor*> in, std::initializer_list<const Tensor*> out,
                 const Attrs& attrs = Attrs());

// The dispatcher. `name` must be interned.
// `checked`: operands come from a caller the runtime does not control (catena::launch), so
// the backend's supports_op sees this very call instead of a cached answer for its kind
// (backends trust launch operands to be what supports_op accepted).
void dispatch(const char* name, int version, const Tensor* const* inputs, int num_inputs, const Tensor* const* outputs,
              int num_outputs, const ct_attr* attrs, int num_attrs, bool checked = false);

}  // namespace catena
