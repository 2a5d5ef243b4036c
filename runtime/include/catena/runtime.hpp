// The plugin runtime: discovery, the load report, backends and devices.
//
// Discovery order (the current directory is never searched):
//   1. paths the application names with set_plugin_paths() before first use, or loads
//      later with Runtime::load_plugin();
//   2. CATENA_PLUGIN_PATH (':'-separated files or folders);
//   3. the user folder, $XDG_DATA_HOME/catena/plugins (~/.local/share/catena/plugins);
//   4. folders relative to libcatena itself: <libdir>/catena/plugins (installed) and,
//      for the libcatena of a build folder, that folder's backends/*.
// Files match libcatena-<name>[-<variant>].so. The first file found for a name wins and
// later ones are "shadowed"; among variants found in one folder the best probe wins.
// CATENA_PLUGINS=a,b is an ordered allow-list (a listed backend that does not load is an
// error); CATENA_DISABLE=a,b switches backends off. The cpu backend always loads.
// CATENA_DEVICE names the default device. Backends initialise lazily, on first use.
#pragma once

#include <catena/ct_backend.h>
#include <catena/error.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace catena {

enum class LoadResult {
  loaded,            // loaded; initialised = whether init has run and succeeded
  shadowed,          // another file of the same name was found first, or won on probe score
  disabled,          // CATENA_DISABLE, or not in CATENA_PLUGINS
  dlopen_failed,     // the OS could not load the file (not a library, missing dependency)
  missing_symbol,    // no ct_plugin_entry
  abi_mismatch,      // another ABI major
  needs_newer_host,  // built against a newer minor and needs it
  probe_zero,        // the probe said it cannot run here
  bad_table,         // the entry returned NULL or a table that breaks the rules
  init_failed,       // init returned an error
  unavailable        // init said the hardware or driver is absent (CT_UNAVAILABLE)
};
const char* to_string(LoadResult r);

// One candidate file, as the loader saw it. Data, so applications can show it.
struct LoadRecord {
  std::string path;
  std::string found_by;  // "explicit", "CATENA_PLUGIN_PATH", "user folder", "beside libcatena"
  std::string name;      // from the file name: libcatena-<name>[-<variant>].so
  std::string variant;
  LoadResult result = LoadResult::loaded;
  bool initialised = false;
  std::string message;             // what happened, in words
  std::string os_error;            // dlerror() text, when the OS refused
  std::string missing_dependency;  // "libfoo.so.1" when a DT_NEEDED library was not found
  std::string hint;                // what to do about it
  bool has_version = false;        // the plugin's table was read
  uint32_t abi_major = 0, abi_minor = 0, min_host_minor = 0;
  std::string plugin_version;
  int probe_score = -1;  // -1: no probe
  std::string probe_reason;
  std::string kind;  // "backend", "functions"
};

struct AllocatorStats {
  uint64_t device_allocs = 0;  // buffers obtained from the backend
  uint64_t device_frees = 0;   // buffers given back to the backend
  uint64_t cache_hits = 0;     // requests served from the cache
  uint64_t bytes_in_use = 0;
  uint64_t bytes_cached = 0;
  uint64_t peak_bytes_in_use = 0;
};

enum class FallbackMode { silent, warn, error };

class Backend;

class Device {
 public:
  const std::string& name() const { return name_; }  // "cpu", "opencl:1"
  const std::string& kind() const { return kind_; }
  int index() const { return index_; }  // index among devices of this kind
  const std::string& product_name() const { return product_; }
  const std::string& vendor() const { return vendor_; }
  const std::string& description() const { return description_; }
  uint64_t memory_total() const { return memory_total_; }
  uint32_t flags() const { return flags_; }
  int compute_units() const { return compute_units_; }
  bool host_addressable() const { return (flags_ & CT_DEVICE_HOST_ADDRESSABLE) != 0; }
  bool is_cpu() const { return is_cpu_; }
  Backend& backend() const { return *backend_; }
  int backend_index() const { return backend_index_; }

  AllocatorStats allocator_stats() const;
  void empty_cache();  // give cached buffers back to the backend
  // Wait for all work on the device; throws catena::Error with the first async error.
  void synchronize();
  // How often each op fell back from this device to the CPU.
  std::map<std::string, uint64_t> fallback_counts() const;
  uint64_t fallback_total() const;
  // How many times the runtime asked the backend's supports_op (answers are cached).
  uint64_t support_queries() const;

  struct Impl;
  Impl& impl() const { return *impl_; }

  Device(Backend* backend, int backend_index, const ct_device_props& props, int kind_index);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

 private:
  Backend* backend_;
  int backend_index_;
  int index_;
  bool is_cpu_;
  std::string name_, kind_, product_, vendor_, description_;
  uint64_t memory_total_;
  uint32_t flags_;
  int compute_units_;
  Impl* impl_;
};

// What `catena devices` shows about one backend.
struct BackendInfo {
  std::string name;
  std::string path;
  std::string version;
  std::string state;    // "ready", "not initialised", "init failed", "unavailable"
  std::string message;  // why it is not ready
  std::vector<Device*> devices;
};

class Runtime {
 public:
  static Runtime& instance();

  // The load report as it stands. With initialise = true, every loaded backend is
  // initialised first, so init failures appear too.
  std::vector<LoadRecord> load_report(bool initialise = false);
  // Load one more plugin explicitly; throws catena::Error with the reason if it fails.
  void load_plugin(const std::string& path);

  std::vector<BackendInfo> backends();  // initialises every backend
  std::vector<Device*> devices();       // every device of every ready backend
  // "cpu", "cpu:0", "opencl:1". Throws with the list of existing devices if unknown.
  Device& device(const std::string& name);
  Device& default_device();  // CATENA_DEVICE, else cpu
  Device& cpu();

  FallbackMode fallback_mode() const;
  void set_fallback_mode(FallbackMode mode);

  struct Impl;

 private:
  Runtime();
  Impl* impl_;
};

inline Runtime& runtime() { return Runtime::instance(); }
inline Device& device(const std::string& name) { return Runtime::instance().device(name); }
inline Device& default_device() { return Runtime::instance().default_device(); }

// Plugin files or folders searched before everything else. Call before first use of the
// runtime; throws catena::Error afterwards.
void set_plugin_paths(const std::vector<std::string>& paths);

// The load report as `catena plugins` prints it: a block per file, then a count of the
// files with problems.
std::string format_report(const std::vector<LoadRecord>& report);

// The version of libcatena ("0.1.0") and of the ABI it speaks.
const char* version() noexcept;

}  // namespace catena
