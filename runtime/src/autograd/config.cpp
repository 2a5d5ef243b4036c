#include <catena/config.hpp>

#include <cstdlib>
#include <cstring>

namespace catena {

namespace {
bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return !(std::strcmp(v, "0") == 0 || std::strcmp(v, "false") == 0 || std::strcmp(v, "no") == 0);
}
}  // namespace

Config& global_config() {
  static Config c = [] {
    Config g;
    g.debug = env_flag("CATENA_DEBUG", false);
    g.type_check = env_flag("CATENA_TYPE_CHECK", true);
    return g;
  }();
  return c;
}

Config& config() {
  // Read on every function call. Not initial-exec: one initial-exec variable puts the
  // library's whole TLS block in static TLS, and then dlopen (ctypes, an FFI) fails with
  // "cannot allocate memory in static TLS block". libcatena is built with TLS descriptors
  // (-mtls-dialect=gnu2), which make this access almost as cheap.
  static thread_local Config c = global_config();
  return c;
}

UsingConfig::UsingConfig(bool Config::*field, bool value) : field_(field), saved_(config().*field) {
  config().*field = value;
}

UsingConfig::~UsingConfig() { config().*field_ = saved_; }

}  // namespace catena
