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
  // Read on every function call: the initial-exec model avoids __tls_get_addr. The
  // object is 4 bytes, well within the static TLS a dlopen'ed library may still use.
  static thread_local Config c __attribute__((tls_model("initial-exec"))) = global_config();
  return c;
}

UsingConfig::UsingConfig(bool Config::*field, bool value) : field_(field), saved_(config().*field) {
  config().*field = value;
}

UsingConfig::~UsingConfig() { config().*field_ = saved_; }

}  // namespace catena
