// JSON text for the writers in plugins (the LogReport's log, whole-model architectures).
#pragma once

#include <cstdio>
#include <string>

namespace catena {
namespace detail {

// s as a JSON string literal: quotes and backslashes escaped, control characters as \uXXXX.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace detail
}  // namespace catena
