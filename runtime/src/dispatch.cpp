// Dispatch: placement checks, the supports_op cache, launch, and CPU fallback.
#include "internal.hpp"

#include <catena/ops.hpp>

#include <cstring>
#include <cstdlib>
#include <cstdio>
#include <algorithm>
#include <map>
#include <chrono>

namespace catena {

namespace {

constexpr int kMaxOperands = 16;

// Layout class of a tensor for the supports_op cache: 0 contiguous, 1 strided without
// broadcast, 2 with zero (broadcast) or negative strides.
int layout_class(const Tensor& t) { return t.impl_layout(); }

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

uint64_t hash_bytes(uint64_t h, const void* p, size_t n) {
  const unsigned char* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}

// `tin`/`tout`: the operands' ABI descriptions, already built by the caller.
uint64_t support_key(const char* name, int version, const Tensor* const* in, const ct_tensor* tin, int nin,
                     const Tensor* const* out, const ct_tensor* tout, int nout, const ct_attr* attrs, int nattrs) {
  uint64_t h = mix(reinterpret_cast<uintptr_t>(name), static_cast<uint64_t>(version));
  auto add = [&](const Tensor& t, const ct_tensor& c) {
    h = mix(h, static_cast<uint64_t>(c.dl.dtype.code) | (uint64_t(c.dl.dtype.bits) << 8) | (uint64_t(c.dl.ndim) << 16) |
                   (uint64_t(layout_class(t)) << 24));
  };
  h = mix(h, uint64_t(nin) << 32 | uint64_t(nout));
  for (int i = 0; i < nin; ++i) add(*in[i], tin[i]);
  for (int i = 0; i < nout; ++i) add(*out[i], tout[i]);
  for (int i = 0; i < nattrs; ++i) {
    const ct_attr& a = attrs[i];
    h = hash_bytes(h, a.name, std::strlen(a.name));
    h = mix(h, uint64_t(a.type));
    // Float values (a fill value, a learning rate) never decide support, so they stay
    // out of the key: otherwise every new value would be a new question and a new entry.
    switch (a.type) {
      case CT_ATTR_STRING: h = hash_bytes(h, a.v.s, std::strlen(a.v.s)); break;
      case CT_ATTR_INTS: h = hash_bytes(h, a.v.ints, sizeof(int64_t) * a.count); break;
      case CT_ATTR_FLOAT: break;
      case CT_ATTR_FLOATS: h = mix(h, uint64_t(a.count)); break;
      case CT_ATTR_DTYPE: h = hash_bytes(h, &a.v.dtype, sizeof(a.v.dtype)); break;
      default: h = mix(h, static_cast<uint64_t>(a.v.i)); break;
    }
  }
  return h;
}

std::string describe(const char* name, const Tensor* const* in, int nin) {
  std::string s = name;
  s += " (";
  for (int i = 0; i < nin; ++i) s += (i ? ", " : "") + in[i]->dtype().name() + in[i]->shape().str();
  return s + ")";
}

int32_t query_support(Device& dev, const char* name, uint64_t key, const ct_op& op, std::string* reason) {
  // A per-thread direct-mapped front for answers that were "yes": no lock on the hot path.
  struct Front {
    const Device* device;
    uint64_t key;
    int32_t answer;
  };
  thread_local Front front[256] = {};
  Front& slot = front[(key ^ (reinterpret_cast<uintptr_t>(&dev) >> 4)) & 255];
  if (slot.device == &dev && slot.key == key) return slot.answer;
  Device::Impl& d = dev.impl();
  {
    std::lock_guard<SpinLock> lock(d.support_mutex);
    auto it = d.support_cache.find(key);
    if (it != d.support_cache.end()) {
      if (it->second == CT_UNSUPPORTED) *reason = d.support_reason[key];
      else slot = {&dev, key, it->second};
      return it->second;
    }
  }
  const char* why = nullptr;
  int32_t answer = d.table->supports_op(d.ctx, d.index, &op, &why);
  std::lock_guard<SpinLock> lock(d.support_mutex);
  ++d.support_queries;
  d.support_cache[key] = answer;
  if (answer == CT_UNSUPPORTED) {
    *reason = why ? why : "no reason given";
    d.support_reason[key] = *reason;
  } else {
    slot = {&dev, key, answer};
  }
  (void)name;
  return answer;
}

// A CPU copy of the bytes a view of a device tensor covers, viewed the same way.
Tensor stage_to_cpu(const Tensor& t, Device& cpu, bool read) {
  if (t.numel() == 0) return Tensor::empty(t.shape(), t.dtype(), cpu);
  int64_t lo, hi;
  view_extent(t.shape(), t.strides(), t.offset(), &lo, &hi);
  int64_t count = hi - lo + 1;
  Tensor flat = Tensor::empty(Shape{count}, t.dtype(), cpu);
  if (read) {
    Device::Impl& d = t.device().impl();
    std::lock_guard<std::mutex> lock(d.stream_mutex);
    size_t isz = t.dtype().size();
    check_status(d.table->copy_to_host(d.ctx, d.stream, t.storage().buffer(), lo * isz, flat.storage().data(), count * isz),
                 [&] { return "fallback: copying from " + t.device().name(); });
    check_status(d.table->stream_synchronize(d.ctx, d.stream), [&] { return "fallback: on " + t.device().name(); });
  }
  return flat.view(t.shape(), t.strides(), t.offset() - lo);
}

void unstage_from_cpu(const Tensor& host_view, const Tensor& t) {
  if (t.numel() == 0) return;
  int64_t lo, hi;
  view_extent(t.shape(), t.strides(), t.offset(), &lo, &hi);
  size_t isz = t.dtype().size();
  Device::Impl& d = t.device().impl();
  std::lock_guard<std::mutex> lock(d.stream_mutex);
  check_status(d.table->copy_from_host(d.ctx, d.stream, host_view.storage().data(), t.storage().buffer(), lo * isz,
                                       (hi - lo + 1) * isz, CT_HOST_DURING_CALL),
               [&] { return "fallback: copying to " + t.device().name(); });
}

bool dense_extent(const Tensor& t) {
  if (t.numel() == 0) return true;
  int64_t lo, hi;
  view_extent(t.shape(), t.strides(), t.offset(), &lo, &hi);
  return hi - lo + 1 == t.numel();
}

}  // namespace

namespace {

// CATENA_PROFILE=1: the time of every launch, by op and input shapes, printed to stderr at
// exit, largest total first (devices are synchronised after each op while it is on).
struct OpProfile {
  std::mutex mutex;
  std::map<std::string, std::pair<int64_t, double>> by_key;  // count, seconds
  ~OpProfile() {
    std::vector<std::pair<std::string, std::pair<int64_t, double>>> rows(by_key.begin(), by_key.end());
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.second > b.second.second; });
    double total = 0;
    for (auto& r : rows) total += r.second.second;
    std::fprintf(stderr, "catena profile: %.3f s in %zu kinds of launch\n%10s %8s %10s  %s\n", total, rows.size(),
                 "total ms", "calls", "us/call", "op (inputs)");
    for (size_t i = 0; i < rows.size() && i < 40; ++i)
      std::fprintf(stderr, "%10.2f %8lld %10.1f  %s\n", rows[i].second.second * 1e3, (long long)rows[i].second.first,
                   rows[i].second.second * 1e6 / double(rows[i].second.first), rows[i].first.c_str());
  }
};

OpProfile* op_profile() {
  static OpProfile* p = [] {
    const char* v = std::getenv("CATENA_PROFILE");
    if (!(v && *v && *v != '0')) return static_cast<OpProfile*>(nullptr);
    static OpProfile profile;  // printed when the process exits
    return &profile;
  }();
  return p;
}

bool op_profile_enabled() { return op_profile() != nullptr; }

void op_profile_add(const char* name, const Tensor* const* in, int nin, std::chrono::steady_clock::duration d) {
  OpProfile* p = op_profile();
  std::string key = describe(name, in, nin);
  std::lock_guard<std::mutex> lock(p->mutex);
  auto& e = p->by_key[key];
  e.first += 1;
  e.second += std::chrono::duration<double>(d).count();
}

}  // namespace

void dispatch(const char* name, int version, const Tensor* const* in, int nin, const Tensor* const* out, int nout,
              const ct_attr* attrs, int nattrs, bool checked) {
  if (nin + nout > kMaxOperands)
    throw Error(CT_INVALID_ARGUMENT, std::string(name) + ": too many operands");
  if (nout == 0 && nin == 0) throw Error(CT_INVALID_ARGUMENT, std::string(name) + ": no operands");
  Device& dev = nout ? out[0]->device() : in[0]->device();
  for (int i = 0; i < nin; ++i)
    if (&in[i]->device() != &dev)
      throw Error(CT_INVALID_ARGUMENT, std::string(name) + ": input " + std::to_string(i) + " is on " +
                                           in[i]->device().name() + " but the output is on " + dev.name() +
                                           "; move it first with .to(device)");
  for (int i = 1; i < nout; ++i)
    if (&out[i]->device() != &dev)
      throw Error(CT_INVALID_ARGUMENT, std::string(name) + ": output " + std::to_string(i) + " is on " +
                                           out[i]->device().name() + ", not " + dev.name());

  ct_tensor tin[kMaxOperands], tout[kMaxOperands];
  const ct_tensor* pin[kMaxOperands];
  const ct_tensor* pout[kMaxOperands];
  for (int i = 0; i < nin; ++i) tin[i] = in[i]->abi(), pin[i] = &tin[i];
  for (int i = 0; i < nout; ++i) tout[i] = out[i]->abi(), pout[i] = &tout[i];
  ct_op op{sizeof(ct_op), name, version, nin, nout, nattrs, pin, pout, attrs};

  uint64_t key = support_key(name, version, in, tin, nin, out, tout, nout, attrs, nattrs);
  std::string reason;
  Device::Impl& d = dev.impl();
  int32_t support;
  if (checked) {
    const char* why = nullptr;
    support = d.table->supports_op(d.ctx, d.index, &op, &why);
    if (support == CT_UNSUPPORTED) reason = why ? why : "no reason given";
  } else {
    support = query_support(dev, name, key, op, &reason);
  }
  if (support != CT_UNSUPPORTED) {
    ct_status* s;
    const bool timing = op_profile_enabled();
    std::chrono::steady_clock::time_point t0;
    if (timing) t0 = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(d.stream_mutex);
      s = d.table->launch(d.ctx, d.stream, &op);
      if (timing && !(dev.flags() & CT_DEVICE_SYNCHRONOUS)) d.table->stream_synchronize(d.ctx, d.stream);
    }
    if (timing) op_profile_add(name, in, nin, std::chrono::steady_clock::now() - t0);
    check_status(s, [&] { return describe(name, in, nin) + " on " + dev.name(); });
    return;
  }
  if (dev.is_cpu())
    throw Error(CT_UNIMPLEMENTED, describe(name, in, nin) + ": the cpu backend cannot run it (" + reason + ")");

  FallbackMode mode = Runtime::instance().fallback_mode();
  std::string what = describe(name, in, nin);
  if (mode == FallbackMode::error)
    throw Error(CT_UNIMPLEMENTED, what + " is not supported on " + dev.name() + " (" + reason +
                                      ") and CATENA_FALLBACK=error forbids running it on the CPU");
  {
    std::lock_guard<std::mutex> lock(d.fallback_mutex);
    ++d.fallback_counts[name];
    if (mode == FallbackMode::warn && d.warned.insert(name).second)
      warn(what + " is not supported on " + dev.name() + " (" + reason +
           "); running it on the CPU with copies. This warning is shown once per op and device; "
           "CATENA_FALLBACK=silent hides it, CATENA_FALLBACK=error forbids fallback");
  }
  Device& cpu = Runtime::instance().cpu();
  Tensor hin[kMaxOperands], hout[kMaxOperands];
  const Tensor* phin[kMaxOperands];
  const Tensor* phout[kMaxOperands];
  for (int i = 0; i < nin; ++i) hin[i] = stage_to_cpu(*in[i], cpu, true), phin[i] = &hin[i];
  // An output whose view skips bytes is read first, so the bytes it skips survive; the
  // optimizer updates (optim.*) read their outputs, so theirs are always read.
  const bool reads_outputs = std::strncmp(name, "optim.", 6) == 0;
  for (int i = 0; i < nout; ++i)
    hout[i] = stage_to_cpu(*out[i], cpu, reads_outputs || !dense_extent(*out[i])), phout[i] = &hout[i];
  dispatch(name, version, phin, nin, phout, nout, attrs, nattrs, checked);
  for (int i = 0; i < nout; ++i) unstage_from_cpu(hout[i], *out[i]);
}

std::pair<int32_t, std::string> query_support(Device& dev, const char* name_in, int version,
                                              const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                                              const Attrs& attrs) {
  const char* name = intern(name_in);
  std::vector<const Tensor*> in, out;
  std::vector<ct_tensor> tin, tout;
  for (const Tensor& t : inputs) in.push_back(&t), tin.push_back(t.abi());
  for (const Tensor& t : outputs) out.push_back(&t), tout.push_back(t.abi());
  std::vector<const ct_tensor*> pin, pout;
  for (auto& t : tin) pin.push_back(&t);
  for (auto& t : tout) pout.push_back(&t);
  ct_op op{sizeof(ct_op), name, version, static_cast<int32_t>(in.size()), static_cast<int32_t>(out.size()),
           attrs.size(), pin.data(), pout.data(), attrs.data()};
  uint64_t key = support_key(name, version, in.data(), tin.data(), static_cast<int>(in.size()), out.data(), tout.data(),
                             static_cast<int>(out.size()), attrs.data(), attrs.size());
  std::string reason;
  int32_t answer = query_support(dev, name, key, op, &reason);
  return {answer, reason};
}

void dispatch_op(const char* name, std::initializer_list<const Tensor*> in, std::initializer_list<const Tensor*> out,
                 const Attrs& attrs) {
  for (const Tensor* t : in)
    if (!t->defined()) throw Error(CT_INVALID_ARGUMENT, std::string(name) + ": an input tensor is undefined");
  dispatch(name, 1, in.begin(), static_cast<int>(in.size()), out.begin(), static_cast<int>(out.size()), attrs.data(),
           attrs.size());
}

void launch(const char* name, int version, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            const Attrs& attrs) {
  std::vector<const Tensor*> in, out;
  for (const Tensor& t : inputs) {
    if (!t.defined()) throw Error(CT_INVALID_ARGUMENT, std::string(name) + ": an input tensor is undefined");
    in.push_back(&t);
  }
  for (const Tensor& t : outputs) {
    if (!t.defined()) throw Error(CT_INVALID_ARGUMENT, std::string(name) + ": an output tensor is undefined");
    out.push_back(&t);
  }
  dispatch(intern(name), version, in.data(), static_cast<int>(in.size()), out.data(), static_cast<int>(out.size()),
           attrs.data(), attrs.size(), /*checked=*/true);
}

}  // namespace catena
