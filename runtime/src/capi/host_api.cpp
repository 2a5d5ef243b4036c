// The C host API (catena/catena.h) over the C++ runtime. Every entry point catches
// everything: no exception leaves, and each failure becomes a status naming the function.
#include <catena/catena.h>

#include "../internal.hpp"

#include <catena/config.hpp>
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/runtime.hpp>
#include <catena/tensor.hpp>
#include <catena/variable.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct catena_runtime {
  catena::Runtime* runtime;
};

struct catena_report {
  std::vector<catena::LoadRecord> records;
};

struct catena_tensor {
  catena::Tensor tensor;
};

struct catena_model {
  std::shared_ptr<catena::Link> link;
  catena::Device* device;
};

namespace {

using catena::Error;

// Runs `body`; any exception becomes a status whose message starts with `fn`.
template <class F>
ct_status* guarded(const char* fn, F&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const Error& e) {
    return catena::make_status(e.code(), std::string(fn) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return catena::make_status(CT_RESOURCE_EXHAUSTED, std::string(fn) + ": out of host memory");
  } catch (const std::exception& e) {
    return catena::make_status(CT_INTERNAL, std::string(fn) + ": " + e.what());
  } catch (...) {
    return catena::make_status(CT_UNKNOWN, std::string(fn) + ": an unknown error");
  }
}

[[noreturn]] void invalid(const std::string& message) { throw Error(CT_INVALID_ARGUMENT, message); }

template <class T>
void need(const T* p, const char* what) {
  if (!p) invalid(std::string(what) + " is NULL");
}

// An out-struct the caller sized: it must say at least where its first field ends.
template <class S>
void check_out_struct(const S* s, const char* type) {
  need(s, "out");
  if (s->struct_size < sizeof(size_t) + sizeof(const char*))
    invalid(std::string("out->struct_size is ") + std::to_string(s->struct_size) + ": set it to sizeof(" + type +
            ") before the call");
}

// Writes `value` into `s->field` only when the caller's struct has that field.
#define CATENA_SET(s, type, field, value) \
  do {                                    \
    if (CT_HAS_FIELD(s, type, field)) (s)->field = (value); \
  } while (0)

catena::Device& device_named(const char* name) {
  return (!name || !*name) ? catena::default_device() : catena::device(name);
}

void fill_device(catena::Device& d, catena_device_info* out) {
  CATENA_SET(out, catena_device_info, name, d.name().c_str());
  CATENA_SET(out, catena_device_info, kind, d.kind().c_str());
  CATENA_SET(out, catena_device_info, product, d.product_name().c_str());
  CATENA_SET(out, catena_device_info, vendor, d.vendor().c_str());
  CATENA_SET(out, catena_device_info, description, d.description().c_str());
  CATENA_SET(out, catena_device_info, backend, d.backend().name().c_str());
  CATENA_SET(out, catena_device_info, memory_bytes, d.memory_total());
  CATENA_SET(out, catena_device_info, compute_units, int32_t(d.compute_units()));
  CATENA_SET(out, catena_device_info, host_addressable, int32_t(d.host_addressable() ? 1 : 0));
}

std::string describe(const catena::Tensor& t) { return t.shape().str() + " " + t.dtype().name(); }

char* copy_text(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// Either DLPack struct in, or out.
template <class Managed>
ct_status* from_dlpack(const char* fn, catena_runtime* runtime, Managed* managed, catena_tensor** out) {
  if (out) *out = nullptr;
  return guarded(fn, [&] {
    need(runtime, "runtime");
    need(managed, "managed");
    need(out, "out");
    auto t = std::make_unique<catena_tensor>();
    t->tensor = catena::Tensor::from_dlpack(managed);
    *out = t.release();
  });
}

template <class Managed, class Export>
ct_status* to_dlpack(const char* fn, const catena_tensor* tensor, Managed** out, Export export_tensor) {
  if (out) *out = nullptr;
  return guarded(fn, [&] {
    need(tensor, "tensor");
    need(out, "out");
    *out = export_tensor(tensor->tensor);
  });
}

}  // namespace

extern "C" {

uint32_t catena_api_version(void) { return (uint32_t(CATENA_API_MAJOR) << 16) | CATENA_API_MINOR; }
const char* catena_version(void) { return catena::version(); }

ct_code catena_status_code(const ct_status* status) { return status ? ct_code(status->code) : CT_OK; }
const char* catena_status_message(const ct_status* status) { return status ? status->message.c_str() : ""; }
const char* catena_code_name(ct_code code) { return catena::code_name(code); }
void catena_status_free(ct_status* status) { delete status; }
void catena_string_free(char* text) { std::free(text); }

ct_status* catena_runtime_open(const catena_runtime_options* options, catena_runtime** out) {
  if (out) *out = nullptr;
  return guarded("catena_runtime_open", [&] {
    need(out, "out");
    if (options) {
      if (options->struct_size < sizeof(size_t))
        invalid("options->struct_size is " + std::to_string(options->struct_size) +
                ": set it to sizeof(catena_runtime_options)");
      const char* const* paths = CT_HAS_FIELD(options, catena_runtime_options, plugin_paths) ? options->plugin_paths
                                                                                             : nullptr;
      size_t count = CT_HAS_FIELD(options, catena_runtime_options, plugin_path_count) ? options->plugin_path_count : 0;
      if (count && !paths) invalid("options->plugin_paths is NULL but plugin_path_count is " + std::to_string(count));
      if (count > 4096) invalid("options->plugin_path_count is " + std::to_string(count) + ": more than 4096 paths");
      std::vector<std::string> list;
      for (size_t i = 0; i < count; ++i) {
        if (!paths[i]) invalid("options->plugin_paths[" + std::to_string(i) + "] is NULL");
        list.emplace_back(paths[i]);
      }
      if (!list.empty()) catena::set_plugin_paths(list);
    }
    auto handle = std::make_unique<catena_runtime>();
    handle->runtime = &catena::runtime();
    handle->runtime->cpu();  // discovery now, so a missing cpu backend is this call's error
    *out = handle.release();
  });
}

void catena_runtime_close(catena_runtime* runtime) { delete runtime; }

ct_status* catena_runtime_report(catena_runtime* runtime, int initialise, catena_report** out) {
  if (out) *out = nullptr;
  return guarded("catena_runtime_report", [&] {
    need(runtime, "runtime");
    need(out, "out");
    auto report = std::make_unique<catena_report>();
    report->records = runtime->runtime->load_report(initialise != 0);
    *out = report.release();
  });
}

size_t catena_report_count(const catena_report* report) { return report ? report->records.size() : 0; }

ct_status* catena_report_entry(const catena_report* report, size_t index, catena_plugin_record* out) {
  return guarded("catena_report_entry", [&] {
    need(report, "report");
    check_out_struct(out, "catena_plugin_record");
    if (index >= report->records.size())
      throw Error(CT_OUT_OF_RANGE, "index " + std::to_string(index) + " is past the report's " +
                                       std::to_string(report->records.size()) + " entries");
    const catena::LoadRecord& r = report->records[index];
    CATENA_SET(out, catena_plugin_record, path, r.path.c_str());
    CATENA_SET(out, catena_plugin_record, name, r.name.c_str());
    CATENA_SET(out, catena_plugin_record, kind, r.kind.c_str());
    CATENA_SET(out, catena_plugin_record, found_by, r.found_by.c_str());
    CATENA_SET(out, catena_plugin_record, result, catena::to_string(r.result));
    CATENA_SET(out, catena_plugin_record, message, r.message.c_str());
    CATENA_SET(out, catena_plugin_record, hint, r.hint.c_str());
    CATENA_SET(out, catena_plugin_record, loaded, int32_t(r.result == catena::LoadResult::loaded));
    CATENA_SET(out, catena_plugin_record, initialised, int32_t(r.initialised));
  });
}

ct_status* catena_report_text(const catena_report* report, char** out) {
  if (out) *out = nullptr;
  return guarded("catena_report_text", [&] {
    need(report, "report");
    need(out, "out");
    *out = copy_text(catena::format_report(report->records));
  });
}

void catena_report_free(catena_report* report) { delete report; }

ct_status* catena_device_count(catena_runtime* runtime, size_t* out) {
  if (out) *out = 0;
  return guarded("catena_device_count", [&] {
    need(runtime, "runtime");
    need(out, "out");
    *out = runtime->runtime->devices().size();
  });
}

ct_status* catena_device_get(catena_runtime* runtime, size_t index, catena_device_info* out) {
  return guarded("catena_device_get", [&] {
    need(runtime, "runtime");
    check_out_struct(out, "catena_device_info");
    std::vector<catena::Device*> all = runtime->runtime->devices();
    if (index >= all.size())
      throw Error(CT_OUT_OF_RANGE, "index " + std::to_string(index) + " is past the " + std::to_string(all.size()) +
                                       " devices");
    fill_device(*all[index], out);
  });
}

ct_status* catena_device_find(catena_runtime* runtime, const char* name, catena_device_info* out) {
  return guarded("catena_device_find", [&] {
    need(runtime, "runtime");
    check_out_struct(out, "catena_device_info");
    fill_device(device_named(name), out);
  });
}

ct_status* catena_tensor_new(catena_runtime* runtime, const char* device, ct_dtype dtype, const int64_t* shape,
                             int32_t ndim, const void* data, size_t bytes, catena_tensor** out) {
  if (out) *out = nullptr;
  return guarded("catena_tensor_new", [&] {
    need(runtime, "runtime");
    need(out, "out");
    const catena::Shape s = catena::checked_shape(shape, ndim, "");
    const catena::Dtype dt = catena::checked_dtype(dtype, "");
    const uint64_t count = uint64_t(s.numel());
    if (count > (uint64_t(1) << 62) / dt.size()) invalid("the shape's size in bytes overflows");
    if (bytes != count * dt.size())
      invalid("bytes is " + std::to_string(bytes) + ", but shape " + s.str() + " of " + dt.name() + " holds " +
              std::to_string(count * dt.size()));
    if (bytes && !data) invalid("data is NULL");
    auto t = std::make_unique<catena_tensor>();
    t->tensor = catena::Tensor::from_host(data, bytes, s, dt, device_named(device));
    *out = t.release();
  });
}

void catena_tensor_free(catena_tensor* tensor) { delete tensor; }

int32_t catena_tensor_ndim(const catena_tensor* tensor) { return tensor ? tensor->tensor.ndim() : -1; }

ct_status* catena_tensor_shape(const catena_tensor* tensor, int64_t* shape, int32_t capacity) {
  return guarded("catena_tensor_shape", [&] {
    need(tensor, "tensor");
    if (capacity < 0) invalid("capacity is " + std::to_string(capacity));
    if (capacity > 0) need(shape, "shape");
    const catena::Shape& s = tensor->tensor.shape();
    for (int i = 0; i < s.ndim() && i < capacity; ++i) shape[i] = s[i];
  });
}

ct_status* catena_tensor_dtype(const catena_tensor* tensor, ct_dtype* out) {
  return guarded("catena_tensor_dtype", [&] {
    need(tensor, "tensor");
    need(out, "out");
    *out = tensor->tensor.dtype().raw;
  });
}

int64_t catena_tensor_numel(const catena_tensor* tensor) { return tensor ? tensor->tensor.numel() : -1; }

const char* catena_tensor_device(const catena_tensor* tensor) {
  return tensor ? tensor->tensor.device().name().c_str() : "";
}

ct_status* catena_tensor_read(const catena_tensor* tensor, void* dst, size_t bytes) {
  return guarded("catena_tensor_read", [&] {
    need(tensor, "tensor");
    const catena::Tensor& t = tensor->tensor;
    const size_t want = size_t(t.numel()) * t.dtype().size();
    if (bytes != want)
      invalid("bytes is " + std::to_string(bytes) + ", but the tensor (" + describe(t) + ") holds " +
              std::to_string(want));
    if (want) need(dst, "dst");
    t.contiguous().copy_to_host(dst, bytes);
  });
}

ct_status* catena_tensor_from_dlpack(catena_runtime* runtime, catena_dlpack_managed* managed, catena_tensor** out) {
  return from_dlpack("catena_tensor_from_dlpack", runtime, managed, out);
}

ct_status* catena_tensor_from_dlpack_versioned(catena_runtime* runtime, catena_dlpack_versioned* managed,
                                               catena_tensor** out) {
  return from_dlpack("catena_tensor_from_dlpack_versioned", runtime, managed, out);
}

ct_status* catena_tensor_to_dlpack(const catena_tensor* tensor, catena_dlpack_managed** out) {
  return to_dlpack("catena_tensor_to_dlpack", tensor, out, [](const catena::Tensor& t) { return t.to_dlpack(); });
}

ct_status* catena_tensor_to_dlpack_versioned(const catena_tensor* tensor, catena_dlpack_versioned** out) {
  return to_dlpack("catena_tensor_to_dlpack_versioned", tensor, out,
                   [](const catena::Tensor& t) { return t.to_dlpack_versioned(); });
}

ct_status* catena_model_load(catena_runtime* runtime, const char* path, const char* device, catena_model** out) {
  if (out) *out = nullptr;
  return guarded("catena_model_load", [&] {
    need(runtime, "runtime");
    need(path, "path");
    need(out, "out");
    if (!*path) invalid("path is empty");
    auto m = std::make_unique<catena_model>();
    m->device = &device_named(device);
    m->link = std::shared_ptr<catena::Link>(catena::load_model(path, *m->device).release());
    *out = m.release();
  });
}

void catena_model_free(catena_model* model) { delete model; }

ct_status* catena_model_describe(const catena_model* model, char** out) {
  if (out) *out = nullptr;
  return guarded("catena_model_describe", [&] {
    need(model, "model");
    need(out, "out");
    *out = copy_text(catena::describe_architecture(model->link->recipe()));
  });
}

const char* catena_model_device(const catena_model* model) { return model ? model->device->name().c_str() : ""; }

ct_status* catena_model_forward(const catena_model* model, const catena_tensor* input, catena_tensor** out) {
  if (out) *out = nullptr;
  return guarded("catena_model_forward", [&] {
    need(model, "model");
    need(input, "input");
    need(out, "out");
    const catena::Tensor& x = input->tensor;
    if (!x.dtype().is_float())
      invalid("the input is " + describe(x) + ": the model takes floating-point input (float32 as it was trained)");
    catena::UsingConfig inference(&catena::Config::train, false);
    auto no_graph = catena::no_backprop_mode();
    catena::Variable y;
    try {
      y = model->link->forward(catena::Variable(x.to(*model->device)));
    } catch (const Error& e) {
      // A model refuses a wrong input with its own words (CT_INVALID_ARGUMENT); say which
      // input it was.
      throw Error(e.code(), "input " + describe(x) + ": " + e.what());
    }
    auto result = std::make_unique<catena_tensor>();
    result->tensor = y.data();
    *out = result.release();
  });
}

}  // extern "C"
