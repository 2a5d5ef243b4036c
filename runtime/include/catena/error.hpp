// Errors thrown by the C++ API. Every message names what failed and says what to do.
#pragma once

#include <catena/ct_base.h>

#include <stdexcept>
#include <string>

namespace catena {

class Error : public std::runtime_error {
 public:
  Error(ct_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ct_code code() const noexcept { return code_; }

 private:
  ct_code code_;
};

// Name of a status code ("INVALID_ARGUMENT").
const char* code_name(ct_code code) noexcept;

}  // namespace catena
