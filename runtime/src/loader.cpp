// Plugin discovery and loading, the load report, and the Runtime object.
#include "internal.hpp"

#include <boost/dll/shared_library.hpp>
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace catena {

std::string register_plugin_functions(const std::string& plugin, const ct_function_library* lib);

const char* to_string(LoadResult r) {
  switch (r) {
    case LoadResult::loaded: return "loaded";
    case LoadResult::shadowed: return "shadowed";
    case LoadResult::disabled: return "disabled";
    case LoadResult::dlopen_failed: return "dlopen failed";
    case LoadResult::missing_symbol: return "missing symbol";
    case LoadResult::abi_mismatch: return "ABI mismatch";
    case LoadResult::needs_newer_host: return "needs newer host";
    case LoadResult::probe_zero: return "probe 0";
    case LoadResult::bad_table: return "bad table";
    case LoadResult::init_failed: return "init failed";
    case LoadResult::unavailable: return "unavailable";
  }
  return "?";
}

struct Runtime::Impl {
  std::recursive_mutex mutex;  // serialises loading and initialisation
  std::vector<LoadRecord> records;
  std::vector<std::unique_ptr<Backend>> backends;  // cpu first, then in discovery order
  std::set<std::string> loaded_names;
  std::vector<std::shared_ptr<boost::dll::shared_library>> libraries;  // the loaded plugins, kept forever
  bool has_allow_list = false;
  std::vector<std::string> allow_list;
  std::set<std::string> disabled;
  std::atomic<FallbackMode> fallback{FallbackMode::warn};
  std::string default_device_name = "cpu";
  std::string default_device_source;
  Device* default_device = nullptr;

  void discover();
  void load_group(const std::string& name, const std::vector<std::pair<std::string, std::string>>& files);
  bool try_load(LoadRecord& rec);
  Backend* find_backend(const std::string& name);
  void check_allow_list();
  void init_all();
};

namespace {

std::vector<std::string>* g_explicit_paths = new std::vector<std::string>();
std::atomic<bool> g_started{false};

// Matches libcatena-<name>[-<variant>].so; name is [A-Za-z0-9_]+, variant [A-Za-z0-9_.]+.
bool parse_plugin_filename(const std::string& file, std::string* name, std::string* variant) {
  const std::string prefix = "libcatena-", suffix = ".so";
  if (file.size() <= prefix.size() + suffix.size() || file.compare(0, prefix.size(), prefix) != 0 ||
      file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  std::string middle = file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
  size_t dash = middle.find('-');
  std::string n = middle.substr(0, dash);
  std::string v = dash == std::string::npos ? "" : middle.substr(dash + 1);
  auto valid = [](const std::string& s, bool dots) {
    if (s.empty()) return false;
    for (char c : s)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && !(dots && c == '.')) return false;
    return true;
  };
  if (!valid(n, false) || (dash != std::string::npos && !valid(v, true))) return false;
  *name = n;
  *variant = v;
  return true;
}

std::string libcatena_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&libcatena_dir), &info) && info.dli_fname) {
    std::error_code ec;
    fs::path p = fs::canonical(info.dli_fname, ec);
    if (!ec) return p.parent_path().string();
  }
  return {};
}

std::string user_plugin_dir() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/catena/plugins";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/catena/plugins";
  return {};
}

// dlerror text out of Boost.DLL's message.
std::string os_error_text(const std::string& what) {
  const std::string tag = "dlerror system message: ";
  size_t p = what.find(tag);
  if (p == std::string::npos) return what;
  p += tag.size();
  size_t e = what.rfind("): ");
  if (e == std::string::npos || e < p) e = what.size();
  return what.substr(p, e - p);
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string(fallback);
}

}  // namespace

void set_plugin_paths(const std::vector<std::string>& paths) {
  if (g_started.load()) {
    throw Error(CT_FAILED_PRECONDITION,
                "set_plugin_paths: the runtime has already started; call it before the first use of Catena, or "
                "load a plugin later with Runtime::load_plugin(path)");
  }
  *g_explicit_paths = paths;
}

void Runtime::Impl::discover() {
  for (const std::string& n : split(env_or("CATENA_DISABLE", ""), ',')) disabled.insert(n);
  if (const char* a = std::getenv("CATENA_PLUGINS"); a && *a) {
    has_allow_list = true;
    allow_list = split(a, ',');
  }
  std::string fb = env_or("CATENA_FALLBACK", "warn");
  if (fb == "silent") fallback = FallbackMode::silent;
  else if (fb == "error") fallback = FallbackMode::error;
  else if (fb == "warn" || fb.empty()) fallback = FallbackMode::warn;
  else warn("CATENA_FALLBACK='" + fb + "' is not one of silent, warn, error; using warn");
  if (const char* d = std::getenv("CATENA_DEVICE"); d && *d) {
    default_device_name = d;
    default_device_source = "CATENA_DEVICE";
  }

  // Candidate folders and files, in search order.
  struct Source {
    std::string path, found_by;
  };
  std::vector<Source> sources;
  for (const std::string& p : *g_explicit_paths) sources.push_back({p, "explicit"});
  for (const std::string& p : split(env_or("CATENA_PLUGIN_PATH", ""), ':')) sources.push_back({p, "CATENA_PLUGIN_PATH"});
  if (std::string u = user_plugin_dir(); !u.empty()) sources.push_back({u, "user folder"});
  if (std::string lib = libcatena_dir(); !lib.empty()) {
    sources.push_back({lib + "/catena/plugins", "beside libcatena"});
    // The build tree's backends, for the libcatena of that build folder only: an installed
    // one never looks beside its folder.
    std::error_code ec;
    fs::path build_backends = fs::path(lib).parent_path() / "backends";
    if (fs::equivalent(lib, CATENA_BUILD_RUNTIME_DIR, ec) && fs::is_directory(build_backends, ec)) {
      std::vector<std::string> subdirs;
      for (const auto& e : fs::directory_iterator(build_backends, ec))
        if (e.is_directory()) subdirs.push_back(e.path().string());
      std::sort(subdirs.begin(), subdirs.end());
      for (const auto& s : subdirs) sources.push_back({s, "beside libcatena"});
    }
  }

  // Group the files of each folder by plugin name; keep folder order.
  for (const Source& src : sources) {
    std::error_code ec;
    fs::path p(src.path);
    if (p.is_relative() && src.found_by != "explicit") {
      // A relative entry would search the current directory, which Catena never does.
      LoadRecord rec;
      rec.path = src.path;
      rec.found_by = src.found_by;
      rec.result = LoadResult::disabled;
      rec.message = "relative path ignored: plugin paths must be absolute (the current directory is never searched)";
      rec.hint = "use an absolute path in " + src.found_by;
      records.push_back(rec);
      continue;
    }
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> groups;  // name -> (file, found_by)
    std::vector<std::string> order;
    auto add_file = [&](const fs::path& file) {
      std::string name, variant;
      if (!parse_plugin_filename(file.filename().string(), &name, &variant)) {
        if (src.found_by == "explicit" || fs::is_regular_file(p, ec)) {
          LoadRecord rec;
          rec.path = file.string();
          rec.found_by = src.found_by;
          rec.result = LoadResult::bad_table;
          rec.message = "file name does not match libcatena-<name>[-<variant>].so";
          rec.hint = "rename the file to libcatena-<name>.so";
          records.push_back(rec);
        }
        return;
      }
      if (!groups.count(name)) order.push_back(name);
      groups[name].push_back({file.string(), src.found_by});
    };
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (!e.is_directory(ec)) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) add_file(f);
    } else if (fs::exists(p, ec)) {
      add_file(p);
    } else if (src.found_by != "beside libcatena" && src.found_by != "user folder") {
      LoadRecord rec;
      rec.path = src.path;
      rec.found_by = src.found_by;
      rec.result = LoadResult::dlopen_failed;
      rec.message = "no such file or folder";
      rec.hint = "check the path given in " + src.found_by;
      records.push_back(rec);
    }
    for (const std::string& name : order) load_group(name, groups[name]);
  }

  if (!find_backend("cpu")) {
    LoadRecord rec;
    rec.name = "cpu";
    rec.result = LoadResult::dlopen_failed;
    rec.message = "the cpu backend (libcatena-cpu.so) was not found; every other backend falls back to it";
    rec.hint = "reinstall Catena, or point CATENA_PLUGIN_PATH at the folder holding libcatena-cpu.so";
    records.push_back(rec);
  }
}

// Load one plugin name from the files found for it in one folder (variants), best probe
// first; any later folder's file of the same name is shadowed.
void Runtime::Impl::load_group(const std::string& name, const std::vector<std::pair<std::string, std::string>>& files) {
  auto base_record = [&](const std::pair<std::string, std::string>& f) {
    LoadRecord rec;
    rec.path = f.first;
    rec.found_by = f.second;
    std::string n, v;
    parse_plugin_filename(fs::path(f.first).filename().string(), &n, &v);
    rec.name = n;
    rec.variant = v;
    return rec;
  };
  if (loaded_names.count(name)) {
    for (const auto& f : files) {
      LoadRecord rec = base_record(f);
      rec.result = LoadResult::shadowed;
      Backend* b = find_backend(name);
      rec.message = "shadowed by " + (b ? b->path() : std::string("an earlier plugin")) + ", found first";
      rec.hint = "remove one of the two, or put the one you want earlier in CATENA_PLUGIN_PATH";
      records.push_back(rec);
    }
    return;
  }
  bool is_cpu = name == "cpu";
  bool not_allowed = has_allow_list && std::find(allow_list.begin(), allow_list.end(), name) == allow_list.end();
  if (!is_cpu && (disabled.count(name) || not_allowed)) {
    for (const auto& f : files) {
      LoadRecord rec = base_record(f);
      rec.result = LoadResult::disabled;
      rec.message = disabled.count(name) ? "disabled by CATENA_DISABLE" : "not listed in CATENA_PLUGINS";
      rec.hint = disabled.count(name) ? "remove it from CATENA_DISABLE to use it" : "add it to CATENA_PLUGINS to use it";
      records.push_back(rec);
    }
    return;
  }
  // Probe every variant; try them best score first.
  std::vector<LoadRecord> recs;
  std::vector<std::shared_ptr<boost::dll::shared_library>> libs;
  for (const auto& f : files) {
    LoadRecord rec = base_record(f);
    auto lib = std::make_shared<boost::dll::shared_library>();
    try {
      lib->load(boost::dll::fs::path(f.first), boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
    } catch (const std::exception& e) {
      rec.result = LoadResult::dlopen_failed;
      rec.os_error = os_error_text(e.what());
      // "libfoo.so.1: cannot open shared object file" names a missing dependency.
      size_t colon = rec.os_error.find(": cannot open shared object file");
      std::string first = colon == std::string::npos ? "" : rec.os_error.substr(0, colon);
      if (!first.empty() && first != f.first && first.find('/') == std::string::npos) {
        rec.missing_dependency = first;
        rec.message = "a library it needs is missing: " + first;
        rec.hint = "install the package that provides " + first + " (or add its folder to LD_LIBRARY_PATH)";
      } else if (rec.os_error.find("invalid ELF header") != std::string::npos ||
                 rec.os_error.find("file too short") != std::string::npos) {
        rec.message = "not a shared library";
        rec.hint = "remove " + f.first + " from the plugin folder";
      } else if (rec.os_error.find("undefined symbol") != std::string::npos) {
        rec.message = "it needs a symbol no loaded library provides";
        rec.hint = "rebuild the plugin against the libraries installed here";
      } else {
        rec.message = "the OS could not load it";
        rec.hint = "see the OS error; check the file's architecture and permissions";
      }
      recs.push_back(rec);
      libs.push_back(nullptr);
      continue;
    }
    if (!lib->has(CT_PLUGIN_ENTRY_SYMBOL)) {
      rec.result = LoadResult::missing_symbol;
      rec.message = std::string("it does not export ") + CT_PLUGIN_ENTRY_SYMBOL;
      rec.hint = "a Catena plugin must export ct_plugin_entry (see api/catena/ct_plugin.h); is this file a plugin?";
      recs.push_back(rec);
      libs.push_back(nullptr);
      continue;
    }
    if (lib->has(CT_PLUGIN_PROBE_SYMBOL)) {
      auto& probe = lib->get<int32_t(uint32_t, uint32_t, const char**)>(CT_PLUGIN_PROBE_SYMBOL);
      const char* reason = nullptr;
      rec.probe_score = probe(CT_ABI_MAJOR, CT_ABI_MINOR, &reason);
      rec.probe_reason = reason ? reason : "";
      if (rec.probe_score <= 0) {
        rec.result = LoadResult::probe_zero;
        rec.message = "its probe says it cannot run here" + (rec.probe_reason.empty() ? "" : ": " + rec.probe_reason);
        rec.hint = "nothing to do unless you expected this hardware to be usable";
        recs.push_back(rec);
        libs.push_back(nullptr);
        continue;
      }
    }
    rec.result = LoadResult::loaded;
    recs.push_back(rec);
    libs.push_back(lib);
  }
  std::vector<size_t> idx;
  for (size_t i = 0; i < recs.size(); ++i)
    if (libs[i]) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return recs[a].probe_score > recs[b].probe_score; });
  bool done = false;
  for (size_t i : idx) {
    LoadRecord& rec = recs[i];
    if (done) {
      rec.result = LoadResult::shadowed;
      rec.message = "another variant of '" + name + "' scored higher on its probe";
      rec.hint = "remove the other variant to force this one";
      libs[i].reset();
      continue;
    }
    auto& entry = libs[i]->get<const ct_plugin*(const ct_host*)>(CT_PLUGIN_ENTRY_SYMBOL);
    const ct_plugin* plugin = entry(host_services());
    std::string problem;
    LoadResult result = LoadResult::loaded;
    if (!plugin) {
      result = LoadResult::bad_table;
      problem = "its entry returned NULL (it refused this host; its log may say why)";
    } else {
      rec.has_version = true;
      rec.abi_major = plugin->abi_major;
      rec.abi_minor = plugin->abi_minor;
      rec.min_host_minor = plugin->min_host_minor;
      std::string versions = "plugin ABI " + std::to_string(plugin->abi_major) + "." + std::to_string(plugin->abi_minor) +
                             ", runtime ABI " + std::to_string(CT_ABI_MAJOR) + "." + std::to_string(CT_ABI_MINOR);
      if (plugin->abi_major != CT_ABI_MAJOR) {
        result = LoadResult::abi_mismatch;
        problem = "built for another ABI major (" + versions + ")";
        rec.hint = plugin->abi_major > CT_ABI_MAJOR ? "upgrade Catena, or use a build of the plugin for ABI 1"
                                                    : "rebuild the plugin against Catena's ABI 1 headers";
      } else if (plugin->abi_minor > CT_ABI_MINOR && plugin->min_host_minor > CT_ABI_MINOR) {
        result = LoadResult::needs_newer_host;
        problem = "it needs a runtime of ABI 1." + std::to_string(plugin->min_host_minor) + " or later (" + versions + ")";
        rec.hint = "upgrade Catena, or use a build of the plugin made for ABI 1." + std::to_string(CT_ABI_MINOR);
      } else if (plugin->struct_size < CT_STRUCT_SIZE(ct_plugin, functions)) {
        result = LoadResult::bad_table;
        problem = "its ct_plugin table is too short (struct_size " + std::to_string(plugin->struct_size) + ")";
      } else {
        rec.plugin_version = plugin->version ? plugin->version : "";
        if (!plugin->name || name != plugin->name) {
          result = LoadResult::bad_table;
          problem = "its table names it '" + std::string(plugin->name ? plugin->name : "(null)") +
                    "' but the file is named for '" + name + "'";
          rec.hint = "rename the file to libcatena-" + std::string(plugin->name ? plugin->name : "<name>") + ".so";
        } else if (plugin->kind == CT_PLUGIN_BACKEND) {
          rec.kind = "backend";
          const ct_backend* t = plugin->backend;
          if (!t || t->struct_size < CT_STRUCT_SIZE(ct_backend, launch)) {
            result = LoadResult::bad_table;
            problem = "its backend table is missing or too short";
          } else {
            ct_backend copy{};
            std::memcpy(&copy, t, std::min(t->struct_size, sizeof(ct_backend)));
            copy.struct_size = sizeof(ct_backend);
            const char* missing = !copy.init ? "init" : !copy.device_count ? "device_count"
                                : !copy.device_props ? "device_props" : !copy.buffer_alloc ? "buffer_alloc"
                                : !copy.buffer_free ? "buffer_free" : !copy.buffer_data ? "buffer_data"
                                : !copy.stream_create ? "stream_create" : !copy.stream_destroy ? "stream_destroy"
                                : !copy.stream_synchronize ? "stream_synchronize"
                                : !copy.copy_from_host ? "copy_from_host" : !copy.copy_to_host ? "copy_to_host"
                                : !copy.supports_op ? "supports_op" : !copy.launch ? "launch" : nullptr;
            if (missing) {
              result = LoadResult::bad_table;
              problem = std::string("its backend table lacks the required slot '") + missing + "'";
            } else {
              auto b = std::make_unique<Backend>(name, rec.path, rec.plugin_version, &copy, records.size() + i);
              if (name == "cpu") backends.insert(backends.begin(), std::move(b));
              else backends.push_back(std::move(b));
            }
          }
        } else if (plugin->kind == CT_PLUGIN_FUNCTIONS) {
          rec.kind = "functions";
          std::string bad = plugin->functions ? register_plugin_functions(name, plugin->functions)
                                              : "its function library is missing";
          if (!bad.empty()) {
            result = LoadResult::bad_table;
            problem = bad;
          }
        } else {
          result = LoadResult::bad_table;
          problem = "unknown plugin kind " + std::to_string(plugin->kind);
        }
      }
    }
    rec.result = result;
    if (result == LoadResult::loaded) {
      rec.message = rec.kind + " '" + name + "' loaded" + (rec.plugin_version.empty() ? "" : " (" + rec.plugin_version + ")");
      if (plugin->abi_minor > CT_ABI_MINOR)
        rec.message += "; built for ABI 1." + std::to_string(plugin->abi_minor) + ", it accepts this runtime's 1." +
                       std::to_string(CT_ABI_MINOR) + " and its newer fields are ignored";
      if (is_cpu && disabled.count(name)) rec.message += "; CATENA_DISABLE cannot switch off cpu: fallback needs it";
      loaded_names.insert(name);
      libraries.push_back(libs[i]);  // never unloaded: plugins live until the process exits
      done = true;
    } else {
      rec.message = problem;
      if (rec.hint.empty()) rec.hint = "rebuild the plugin against api/catena/ct_plugin.h, or remove it";
      libs[i].reset();
    }
  }
  for (auto& r : recs) records.push_back(r);
}

Backend* Runtime::Impl::find_backend(const std::string& name) {
  for (auto& b : backends)
    if (b->name() == name) return b.get();
  return nullptr;
}

void Runtime::Impl::init_all() {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  for (auto& b : backends) {
    bool ready = b->ensure_init();
    LoadRecord& rec = records[b->record()];
    rec.initialised = ready;
    if (!ready) {
      rec.result = b->state() == Backend::State::unavailable ? LoadResult::unavailable : LoadResult::init_failed;
      rec.message = (rec.result == LoadResult::unavailable ? "unavailable: " : "init failed: ") + b->message();
      if (rec.hint.empty())
        rec.hint = "set CATENA_DISABLE=" + b->name() + " to skip this backend, or fix what the message says";
    }
  }
}

void Runtime::Impl::check_allow_list() {
  if (!has_allow_list) return;
  std::string failures;
  for (const std::string& n : allow_list) {
    Backend* b = find_backend(n);
    if (b && b->ensure_init()) continue;
    std::string why = b ? b->message() : "no plugin of that name loaded";
    for (const auto& r : records)
      if (r.name == n && r.result != LoadResult::loaded && r.result != LoadResult::shadowed) why = r.message;
    failures += (failures.empty() ? "" : "; ") + n + " (" + why + ")";
  }
  if (!failures.empty())
    throw Error(CT_UNAVAILABLE, "CATENA_PLUGINS asks for backends that did not load: " + failures +
                                    ". Run `catena plugins` for the full report, or change CATENA_PLUGINS");
}

Runtime& Runtime::instance() {
  static Runtime* rt = new Runtime();  // never destroyed: plugins are never unloaded at exit
  return *rt;
}

Runtime::Runtime() : impl_(new Impl()) {
  g_started = true;
  std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
  impl_->discover();
}

std::vector<LoadRecord> Runtime::load_report(bool initialise) {
  if (initialise) impl_->init_all();
  std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
  return impl_->records;
}

void Runtime::load_plugin(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
  std::string name, variant;
  if (!parse_plugin_filename(fs::path(path).filename().string(), &name, &variant))
    throw Error(CT_INVALID_ARGUMENT, "load_plugin: '" + path + "' is not named libcatena-<name>[-<variant>].so");
  if (impl_->loaded_names.count(name))
    throw Error(CT_ALREADY_EXISTS, "load_plugin: a plugin named '" + name + "' is already loaded from " +
                                       impl_->find_backend(name)->path());
  size_t before = impl_->records.size();
  impl_->load_group(name, {{fs::absolute(path).string(), "explicit"}});
  const LoadRecord& rec = impl_->records[before];
  if (rec.result != LoadResult::loaded)
    throw Error(CT_FAILED_PRECONDITION, "load_plugin: " + path + ": " + to_string(rec.result) + ": " + rec.message +
                                            (rec.os_error.empty() ? "" : " (" + rec.os_error + ")") + "; " + rec.hint);
}

std::vector<BackendInfo> Runtime::backends() {
  impl_->init_all();
  std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
  std::vector<BackendInfo> out;
  for (auto& b : impl_->backends) {
    BackendInfo info;
    info.name = b->name();
    info.path = b->path();
    info.version = b->version();
    switch (b->state()) {
      case Backend::State::ready: info.state = "ready"; break;
      case Backend::State::not_initialised: info.state = "not initialised"; break;
      case Backend::State::init_failed: info.state = "init failed"; break;
      case Backend::State::unavailable: info.state = "unavailable"; break;
    }
    info.message = b->message();
    for (auto& d : b->devices()) info.devices.push_back(d.get());
    out.push_back(info);
  }
  return out;
}

std::vector<Device*> Runtime::devices() {
  impl_->init_all();
  std::vector<Device*> out;
  for (auto& b : impl_->backends)
    for (auto& d : b->devices()) out.push_back(d.get());
  return out;
}

Device& Runtime::cpu() {
  Backend* b = impl_->find_backend("cpu");
  if (!b) {
    throw Error(CT_UNAVAILABLE,
                "the cpu backend (libcatena-cpu.so) was not found; reinstall Catena or set CATENA_PLUGIN_PATH to the "
                "folder that holds it. Run `catena plugins` to see where Catena looked");
  }
  if (!b->ensure_init() || b->devices().empty()) {
    std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
    impl_->records[b->record()].result = LoadResult::init_failed;
    throw Error(CT_UNAVAILABLE, "the cpu backend failed to initialise: " + b->message());
  }
  return *b->devices()[0];
}

Device& Runtime::device(const std::string& requested) {
  std::string name = requested;
  if (name == "cpu" || name == "cpu:0") return cpu();
  impl_->check_allow_list();
  if (name.find(':') == std::string::npos) name += ":0";
  std::vector<Device*> all = devices();
  for (Device* d : all)
    if (d->name() == name) return *d;
  std::string names;
  for (Device* d : all) names += (names.empty() ? "" : ", ") + d->name();
  std::string why;
  std::string kind = name.substr(0, name.find(':'));
  for (const auto& r : impl_->records)
    if (r.name == kind && r.result != LoadResult::loaded) why = " The " + kind + " backend: " + r.message + ".";
  throw Error(CT_NOT_FOUND, "no device named '" + requested + "'. Devices here: " + names + "." + why +
                                " Run `catena devices` for details");
}

Device& Runtime::default_device() {
  if (impl_->default_device) return *impl_->default_device;
  impl_->check_allow_list();
  try {
    Device& d = device(impl_->default_device_name);
    impl_->default_device = &d;
    return d;
  } catch (const Error& e) {
    if (impl_->default_device_source.empty()) throw;
    throw Error(e.code(), std::string("CATENA_DEVICE: ") + e.what());
  }
}

FallbackMode Runtime::fallback_mode() const { return impl_->fallback.load(); }
void Runtime::set_fallback_mode(FallbackMode mode) { impl_->fallback = mode; }

std::string format_report(const std::vector<LoadRecord>& report) {
  std::ostringstream out;
  int problems = 0;
  for (const LoadRecord& r : report) {
    out << "[" << to_string(r.result) << "] " << (r.name.empty() ? "?" : r.name)
        << (r.variant.empty() ? "" : " (variant " + r.variant + ")") << "\n";
    if (!r.path.empty()) out << "    file:     " << r.path << "  (" << r.found_by << ")\n";
    if (r.has_version)
      out << "    ABI:      plugin " << r.abi_major << "." << r.abi_minor << " (needs host minor >= " << r.min_host_minor
          << "), runtime " << CT_ABI_MAJOR << "." << CT_ABI_MINOR << "\n";
    if (r.probe_score >= 0)
      out << "    probe:    " << r.probe_score << (r.probe_reason.empty() ? "" : " (" + r.probe_reason + ")") << "\n";
    if (!r.message.empty())
      out << "    " << (r.result == LoadResult::loaded ? "status:   " : "why:      ") << r.message << "\n";
    if (!r.missing_dependency.empty()) out << "    missing:  " << r.missing_dependency << "\n";
    if (!r.os_error.empty()) out << "    OS error: " << r.os_error << "\n";
    if (r.result != LoadResult::loaded && !r.hint.empty()) out << "    do:       " << r.hint << "\n";
    if (r.result != LoadResult::loaded && r.result != LoadResult::shadowed && r.result != LoadResult::disabled)
      ++problems;
  }
  out << report.size() << " plugin files, " << problems << " with problems\n";
  return out.str();
}

}  // namespace catena
