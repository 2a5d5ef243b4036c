// Configuration, as in Chainer: a process-wide default and a thread-local current value.
#pragma once

namespace catena {

struct Config {
  bool train = true;            // dropout and batch normalization behave as in training
  bool enable_backprop = true;  // functions record the graph
  bool type_check = true;       // functions check their arguments before running
  bool debug = false;           // check every output and gradient for NaN/Inf
};

// The process-wide defaults; CATENA_DEBUG=1 and CATENA_TYPE_CHECK=0 set them at start.
Config& global_config();
// This thread's configuration (starts as a copy of the global one).
Config& config();

// Sets one field of this thread's configuration for the guard's lifetime.
class UsingConfig {
 public:
  UsingConfig(bool Config::*field, bool value);
  ~UsingConfig();
  UsingConfig(const UsingConfig&) = delete;
  UsingConfig& operator=(const UsingConfig&) = delete;

 private:
  bool Config::*field_;
  bool saved_;
};

// `auto guard = no_backprop_mode();` — functions record no graph while guard lives.
inline UsingConfig no_backprop_mode() { return UsingConfig(&Config::enable_backprop, false); }
inline UsingConfig force_backprop_mode() { return UsingConfig(&Config::enable_backprop, true); }

}  // namespace catena
