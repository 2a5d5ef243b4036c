// Status objects, the host-services table and small shared utilities.
#include "internal.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace catena {

const char* intern_slow(const char* name);
void fill_function_services(ct_host* host);

const char* code_name(ct_code code) noexcept {
  switch (code) {
    case CT_OK: return "OK";
    case CT_CANCELLED: return "CANCELLED";
    case CT_UNKNOWN: return "UNKNOWN";
    case CT_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case CT_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case CT_NOT_FOUND: return "NOT_FOUND";
    case CT_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case CT_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case CT_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case CT_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case CT_ABORTED: return "ABORTED";
    case CT_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case CT_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case CT_INTERNAL: return "INTERNAL";
    case CT_UNAVAILABLE: return "UNAVAILABLE";
    case CT_DATA_LOSS: return "DATA_LOSS";
    case CT_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case CT_ABI_MISMATCH: return "ABI_MISMATCH";
  }
  return "UNKNOWN";
}

ct_status* make_status(ct_code code, const std::string& message) {
  return new ct_status{static_cast<int32_t>(code), message};
}

void fail_status(ct_status* s, const std::string& context) {
  ct_code code = static_cast<ct_code>(s->code);
  std::string msg = context + ": " + (s->message.empty() ? code_name(code) : s->message);
  delete s;
  throw Error(code, msg);
}

void warn(const std::string& message) { std::fprintf(stderr, "catena: warning: %s\n", message.c_str()); }

int64_t env_integer(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* e = std::getenv(name);
  if (!e || !*e) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(e, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) {
    warn(std::string(name) + "='" + e + "' is not an integer from " + std::to_string(lo) + " to " +
         std::to_string(hi) + "; using " + std::to_string(fallback));
    return fallback;
  }
  return v;
}

const char* intern(const char* name) {
  // Most calls pass a literal or an already interned name: answer those by address,
  // from a per-thread cache, without the lock. The text is compared too: an address may
  // hold another name later (a std::string's buffer reused).
  thread_local std::unordered_map<const char*, const char*> by_address;
  auto hit = by_address.find(name);
  if (hit != by_address.end() && (hit->second == name || std::strcmp(hit->second, name) == 0)) return hit->second;
  const char* interned = intern_slow(name);
  by_address[name] = interned;
  by_address.emplace(interned, interned);
  return interned;
}

const char* intern_slow(const char* name) {
  static std::mutex mutex;
  static std::unordered_set<std::string>* names = new std::unordered_set<std::string>();  // never freed
  std::lock_guard<std::mutex> lock(mutex);
  return names->insert(name).first->c_str();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    std::string part = s.substr(start, end - start);
    if (!part.empty()) out.push_back(part);
    start = end + 1;
  }
  return out;
}

namespace {

void host_log(int32_t level, const char* plugin, const char* message) {
  static const char* names[] = {"debug", "info", "warning", "error"};
  if (level < CT_LOG_WARNING && !std::getenv("CATENA_LOG_PLUGINS")) return;
  const char* lv = (level >= 0 && level <= 3) ? names[level] : "log";
  std::fprintf(stderr, "catena: %s [%s]: %s\n", lv, plugin ? plugin : "?", message ? message : "");
}

ct_status* host_status_new(int32_t code, const char* message) {
  return new ct_status{code, message ? message : ""};
}
void host_status_free(ct_status* s) { delete s; }
int32_t host_status_code(const ct_status* s) { return s ? s->code : CT_OK; }
const char* host_status_message(const ct_status* s) { return s ? s->message.c_str() : ""; }

ct_host make_host() {
  ct_host h = {
    /* .struct_size     = */ sizeof(ct_host),
    /* .abi_major       = */ CT_ABI_MAJOR,
    /* .abi_minor       = */ CT_ABI_MINOR,
    /* .runtime_version = */ CATENA_VERSION,
    /* .log             = */ host_log,
    /* .status_new      = */ host_status_new,
    /* .status_free     = */ host_status_free,
    /* .status_code     = */ host_status_code,
    /* .status_message  = */ host_status_message,
    /* .call            = */ nullptr,  // the function services are filled in below
    /* .value_info      = */ nullptr,
    /* .value_from_host = */ nullptr,
    /* .value_to_host   = */ nullptr,
    /* .value_release   = */ nullptr,
  };
  fill_function_services(&h);
  return h;
}

}  // namespace

const ct_host* host_services() {
  static const ct_host host = make_host();
  return &host;
}
const char* version() noexcept { return CATENA_VERSION; }

}  // namespace catena
