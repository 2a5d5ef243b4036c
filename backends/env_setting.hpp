// Shared by the backends (each a plugin that sees only the C ABI, not libcatena): an
// integer setting from the environment. Unset or empty gives the default; anything else
// that is not an integer in [lo, hi] is reported on stderr, prefixed by `who`, and the
// default used.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace catena_backend {

inline int64_t env_integer(const char* who, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* e = std::getenv(name);
  if (!e || !*e) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(e, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "%s: %s='%s' is not an integer from %lld to %lld; using %lld\n", who, name, e,
                 static_cast<long long>(lo), static_cast<long long>(hi), static_cast<long long>(fallback));
    return fallback;
  }
  return v;
}

}  // namespace catena_backend
