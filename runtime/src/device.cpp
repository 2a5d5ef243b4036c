// Backends, devices and the per-device caching allocator.
#include "internal.hpp"

#include <cstring>

namespace catena {

Backend::Backend(std::string name, std::string path, std::string version, const ct_backend* table, size_t record)
    : name_(std::move(name)), path_(std::move(path)), version_(std::move(version)), table_(*table), record_(record) {}

bool Backend::ensure_init() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != State::not_initialised) return state_ == State::ready;
  ct_backend_ctx* ctx = nullptr;
  ct_status* s = table_.init(&ctx);
  if (s) {
    state_ = s->code == CT_UNAVAILABLE ? State::unavailable : State::init_failed;
    message_ = s->message.empty() ? code_name(static_cast<ct_code>(s->code)) : s->message;
    delete s;
    return false;
  }
  ctx_ = ctx;
  int32_t n = table_.device_count(ctx_);
  for (int32_t i = 0; i < n; ++i) {
    ct_device_props props{};
    props.struct_size = sizeof(props);
    ct_status* ps = table_.device_props(ctx_, i, &props);
    if (ps) {
      warn("backend " + name_ + ": device " + std::to_string(i) + " skipped: " + ps->message);
      delete ps;
      continue;
    }
    std::string kind = props.kind ? props.kind : name_;
    int kind_index = 0;
    for (auto& d : devices_)
      if (d->kind() == kind) ++kind_index;
    devices_.push_back(std::make_unique<Device>(this, i, props, kind_index));
  }
  state_ = State::ready;
  return true;
}

Device::Device(Backend* backend, int backend_index, const ct_device_props& props, int kind_index)
    : backend_(backend),
      backend_index_(backend_index),
      index_(kind_index),
      is_cpu_(props.kind && std::strcmp(props.kind, "cpu") == 0),
      kind_(props.kind ? props.kind : backend->name()),
      product_(props.name ? props.name : ""),
      vendor_(props.vendor ? props.vendor : ""),
      description_(props.description ? props.description : ""),
      memory_total_(props.memory_total),
      flags_(props.flags),
      compute_units_(props.compute_units),
      impl_(new Impl()) {
  name_ = is_cpu_ ? "cpu" : kind_ + ":" + std::to_string(kind_index);
  impl_->table = &backend->table();
  impl_->ctx = backend->ctx();
  impl_->index = backend_index;
  impl_->dl_device_type = props.dl_device_type;
  check_status(impl_->table->stream_create(impl_->ctx, backend_index, &impl_->stream),
               [&] { return "creating the stream of " + name_; });
}

Device::~Device() { delete impl_; }  // never runs in practice: the runtime lives until exit

AllocatorStats Device::allocator_stats() const {
  std::lock_guard<SpinLock> lock(impl_->alloc_mutex);
  return impl_->stats;
}

void Device::empty_cache() {
  std::vector<ct_buffer*> give_back;
  {
    std::lock_guard<SpinLock> lock(impl_->alloc_mutex);
    for (auto& list : impl_->free_lists) {
      give_back.insert(give_back.end(), list.begin(), list.end());
      list.clear();
    }
    impl_->stats.device_frees += give_back.size();
    impl_->stats.bytes_cached = 0;
  }
  for (ct_buffer* b : give_back) impl_->table->buffer_free(impl_->ctx, b);
}

void Device::synchronize() {
  std::lock_guard<std::mutex> lock(impl_->stream_mutex);
  check_status(impl_->table->stream_synchronize(impl_->ctx, impl_->stream), [&] { return "on " + name_; });
}

std::map<std::string, uint64_t> Device::fallback_counts() const {
  std::lock_guard<std::mutex> lock(impl_->fallback_mutex);
  return impl_->fallback_counts;
}

uint64_t Device::support_queries() const {
  std::lock_guard<SpinLock> lock(impl_->support_mutex);
  return impl_->support_queries;
}

uint64_t Device::fallback_total() const {
  uint64_t n = 0;
  for (const auto& [op, count] : fallback_counts()) n += count;
  return n;
}

// Size classes: 256 bytes, then four steps per power of two (at most 25 % waste), so a
// repeated workload finds the sizes it freed.
uint64_t round_allocation(uint64_t bytes) {
  if (bytes <= 256) return 256;
  uint64_t p = uint64_t(1) << (63 - __builtin_clzll(bytes));
  uint64_t step = p >= 1024 ? p / 4 : 256;
  return (bytes + step - 1) / step * step;
}

// Every rounded size is (4 + q) 2^(k-2) with q in 0..3: its class is 4k + q.
int size_class(uint64_t rounded) {
  int k = 63 - __builtin_clzll(rounded);
  return 4 * k + static_cast<int>((rounded >> (k - 2)) - 4);
}

ct_buffer* Device::Impl::allocate(uint64_t bytes, uint64_t* rounded) {
  uint64_t size = round_allocation(bytes);
  *rounded = size;
  {
    std::lock_guard<SpinLock> lock(alloc_mutex);
    std::vector<ct_buffer*>& list = free_lists[size_class(size)];
    if (!list.empty()) {
      ct_buffer* b = list.back();
      list.pop_back();
      ++stats.cache_hits;
      stats.bytes_cached -= size;
      stats.bytes_in_use += size;
      stats.peak_bytes_in_use = std::max(stats.peak_bytes_in_use, stats.bytes_in_use);
      return b;
    }
  }
  ct_buffer* b = nullptr;
  ct_status* s = table->buffer_alloc(ctx, index, size, 256, &b);
  if (s && s->code == CT_RESOURCE_EXHAUSTED) {
    // Give the cache back and try once more before failing.
    delete s;
    std::vector<ct_buffer*> give_back;
    {
      std::lock_guard<SpinLock> lock(alloc_mutex);
      for (auto& list : free_lists) {
        for (ct_buffer* c : list) give_back.push_back(c), ++stats.device_frees;
        list.clear();
      }
      stats.bytes_cached = 0;
    }
    for (ct_buffer* c : give_back) table->buffer_free(ctx, c);
    s = table->buffer_alloc(ctx, index, size, 256, &b);
  }
  check_status(s, [&] { return "allocating " + std::to_string(bytes) + " bytes"; });
  std::lock_guard<SpinLock> lock(alloc_mutex);
  ++stats.device_allocs;
  stats.bytes_in_use += size;
  stats.peak_bytes_in_use = std::max(stats.peak_bytes_in_use, stats.bytes_in_use);
  return b;
}

void Device::Impl::release(ct_buffer* buffer, uint64_t rounded) {
  // Reuse is safe without synchronising: all work on the device runs on one in-order
  // stream, so later users of the buffer are ordered after earlier ones.
  std::lock_guard<SpinLock> lock(alloc_mutex);
  free_lists[size_class(rounded)].push_back(buffer);
  stats.bytes_in_use -= rounded;
  stats.bytes_cached += rounded;
}

Storage::Storage(Device& device, uint64_t bytes) : device_(&device), bytes_(bytes) {
  Device::Impl& d = device.impl();
  buffer_ = d.allocate(bytes, &rounded_);
  data_ = d.buffer_data(buffer_);
}

Storage::Storage(Device& device, ct_buffer* wrapped, uint64_t bytes) : device_(&device), buffer_(wrapped), bytes_(bytes) {
  data_ = device.impl().buffer_data(buffer_);
}

Storage::~Storage() {
  if (!buffer_) return;
  if (rounded_) device_->impl().release(buffer_, rounded_);
  else device_->impl().table->buffer_free(device_->impl().ctx, buffer_);
}

}  // namespace catena
