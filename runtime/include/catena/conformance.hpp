// The conformance kit: a backend checked against the cpu backend, op by op, then function
// by function. What `catena conformance --device D` runs.
//
// For every op of api/OPS.md, every dtype OPS.md allows, contiguous, strided, broadcast
// (zero-stride) and offset inputs, and edge sizes (0, 1, odd, large), the device is asked
// (supports_op); what it takes is run on the same random inputs there and on the cpu and
// compared; what it declines is listed with its reason. Then every differentiable
// function of the catalogue gets its first- and second-order gradient checks on the
// device (float32; declined ops fall back to the cpu, counted).
#pragma once

#include <catena/ops.hpp>
#include <catena/runtime.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace catena {
namespace conformance {

enum class Outcome { passed, failed, declined };
const char* to_string(Outcome o);

// One checked case: an op (or "F.name" for a function's gradient checks), a dtype, and
// the variant (layout and size, or "backward" / "double backward").
struct Row {
  Row() = default;
  Row(std::string o, std::string d, std::string v) : op(std::move(o)), dtype(std::move(d)), variant(std::move(v)) {}
  std::string op, dtype, variant;
  Outcome outcome = Outcome::passed;
  double max_error = 0;  // the largest |a - b| / (1 + |a|) over the outputs (failed rows)
  double tolerance = 0;
  std::string detail;  // the backend's reason (declined), what differed (failed)
};

struct Options {
  std::string device;        // "opencl:0"
  std::string ops = "*";     // glob over op names ("core.conv*") and "F.<function>"
  bool gradients = true;     // the functions' gradient checks too
  bool large = true;         // the large sizes (about a million elements per operand)
};

struct Summary {
  std::vector<Row> rows;
  int passed = 0, failed = 0, declined = 0;
  uint64_t fallbacks = 0;  // ops that fell back to the cpu during the gradient checks
};

// Runs the kit; `on_row` sees each row as soon as it is decided (for progress). Throws
// catena::Error only for a device that does not exist.
Summary run(const Options& options, const std::function<void(const Row&)>& on_row = {});

// The rows and counts as JSON.
std::string to_json(const Options& options, const Summary& summary);

}  // namespace conformance
}  // namespace catena
