// The conformance kit's runner: lays each case's inputs out on the device and on the cpu,
// asks the device, runs both, compares; then the functions' gradient checks.
#include <catena/catalog.hpp>
#include <catena/conformance.hpp>
#include <catena/gradient_check.hpp>

#include "cases.hpp"

#include <fnmatch.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <sstream>

namespace catena {
namespace conformance {

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::passed: return "passed";
    case Outcome::failed: return "failed";
    case Outcome::declined: return "declined";
  }
  return "?";
}

namespace {

const char* const kLayouts[] = {"contiguous", "strided", "broadcast", "offset"};

// `x` (contiguous, on the cpu) on `d` in `layout`: strided (every other element of a
// buffer twice as wide), offset (one row into a taller buffer), broadcast (the first
// slice along the first axis longer than one, repeated with stride 0) or as it is.
Tensor laid_out(const Tensor& x, const std::string& layout, Device& d) {
  const Shape& s = x.shape();
  if (layout == "contiguous" || s.ndim() == 0 || x.numel() == 0) return x.to(d);
  Device& cpu = runtime().cpu();
  if (layout == "strided") {
    const int last = s.ndim() - 1;
    Shape wide = s;
    wide[last] *= 2;
    Tensor w = Tensor::zeros(wide, x.dtype(), cpu);
    ops::copy(w.slice(last, 0, wide[last], 2), x);
    return w.to(d).slice(last, 0, wide[last], 2);
  }
  if (layout == "offset") {
    Shape tall = s;
    tall[0] += 1;
    Tensor w = Tensor::zeros(tall, x.dtype(), cpu);
    ops::copy(w.slice(0, 1, tall[0]), x);
    return w.to(d).slice(0, 1, tall[0]);
  }
  for (int a = 0; a < s.ndim(); ++a)
    if (s[a] > 1) return x.slice(a, 0, 1).contiguous().to(d).broadcast_to(s);
  return x.to(d);
}

std::vector<double> host_values(const Tensor& t) {
  return t.to(runtime().cpu()).astype(float64).to_vector<double>();
}

// The largest error of `got` against `want` (NaN matches NaN), and the first element over
// `tol`, if any.
double compare(const std::vector<double>& want, const std::vector<double>& got, double tol, std::string* first_bad) {
  double worst = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const double a = want[k], b = got[k];
    if ((std::isnan(a) && std::isnan(b)) || a == b) continue;
    const double err = std::isfinite(a) && std::isfinite(b) ? std::abs(a - b) / (1 + std::abs(a)) : INFINITY;
    if (err > worst) worst = err;
    if (err > tol && first_bad->empty()) {
      char m[160];
      std::snprintf(m, sizeof m, "element %zu: cpu %.9g, device %.9g", k, a, b);
      *first_bad = m;
    }
  }
  return worst;
}

bool matches(const std::string& patterns, const std::string& name) {
  std::stringstream list(patterns);
  std::string p;
  while (std::getline(list, p, ','))
    if (!p.empty() && fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

Row run_case(const OpCase& c, const std::string& layout, Device& dev, uint32_t seed) {
  Row row{c.op, c.dtype, layout + " " + c.what};
  row.tolerance = c.tol;
  Device& cpu = runtime().cpu();
  const std::vector<Tensor> base = c.make(seed);
  const std::vector<Tensor> preset = c.preset ? c.preset(seed) : std::vector<Tensor>{};
  std::vector<Tensor> in_cpu, in_dev, out_cpu, out_dev;
  for (const Tensor& x : base) {
    in_cpu.push_back(laid_out(x, layout, cpu));
    in_dev.push_back(laid_out(x, layout, dev));
  }
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    out_cpu.push_back(Tensor::empty(c.outputs[i].first, c.outputs[i].second, cpu));
    out_dev.push_back(Tensor::empty(c.outputs[i].first, c.outputs[i].second, dev));
    if (i < preset.size() && preset[i].numel() > 0) {
      ops::copy(out_cpu.back(), preset[i]);
      ops::copy(out_dev.back(), preset[i].to(dev));
    }
  }
  const auto [support, reason] = query_support(dev, c.op.c_str(), 1, in_dev, out_dev, c.attrs);
  if (support == CT_UNSUPPORTED) {
    row.outcome = Outcome::declined;
    row.detail = reason.empty() ? "declined without a reason" : reason;
    return row;
  }
  try {
    launch(c.op.c_str(), 1, in_cpu, out_cpu, c.attrs);
  } catch (const Error& e) {
    row.outcome = Outcome::failed;
    row.detail = std::string("the cpu reference refused the case (a bug of the kit): ") + e.what();
    return row;
  }
  try {
    launch(c.op.c_str(), 1, in_dev, out_dev, c.attrs);
    dev.synchronize();
  } catch (const Error& e) {
    row.outcome = Outcome::failed;
    row.detail = e.what();
    return row;
  }
  for (size_t i = 0; i < out_cpu.size(); ++i) {
    std::string bad;
    const double err = compare(host_values(out_cpu[i]), host_values(out_dev[i]), c.tol, &bad);
    row.max_error = std::max(row.max_error, err);
    if (!bad.empty() && row.detail.empty()) row.detail = "output " + std::to_string(i) + " " + bad;
  }
  // Inputs are never written.
  for (size_t i = 0; i < in_dev.size() && row.detail.empty(); ++i) {
    if (in_dev[i].numel() >= 100000) continue;
    // Bit for bit: an input may hold NaN.
    const std::vector<double> now = host_values(in_dev[i]), before = host_values(in_cpu[i]);
    if (now.size() != before.size() ||
        (!now.empty() && std::memcmp(now.data(), before.data(), now.size() * sizeof(double)) != 0))
      row.detail = "input " + std::to_string(i) + " was written";
  }
  row.outcome = row.detail.empty() ? Outcome::passed : Outcome::failed;
  return row;
}

std::vector<Tensor> random_like(const std::vector<Tensor>& ts, uint32_t seed, Device& d) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(values(t.shape(), t.dtype(), seed++, -1, 1).to(d));
  return out;
}

void gradient_rows(const Options& o, Device& dev, Summary& sum, const std::function<void(const Row&)>& emit) {
  const uint64_t fallbacks_before = dev.fallback_total();
  uint32_t seed = 1000;
  for (const FunctionProbe& p : functions_catalog()) {
    const std::string name = std::string("F.") + p.name;
    if (!p.differentiable || !p.gradient_check || !matches(o.ops, name)) continue;
    const std::vector<Tensor> x = p.arguments(dev);
    auto f = [&](const std::vector<Variable>& v) { return p.apply(dev, v); };
    std::vector<Tensor> gy;
    Row b{name, "float32", "backward"};
    b.tolerance = gradient_check::backward_options_for(float32).rtol;
    try {
      std::vector<Tensor> ys;
      for (const Variable& y : f(std::vector<Variable>(x.begin(), x.end()))) ys.push_back(y.array());
      gy = random_like(ys, seed += 16, dev);
      gradient_check::check_backward(f, x, gy, gradient_check::backward_options_for(float32));
    } catch (const Error& e) {
      b.outcome = Outcome::failed;
      b.detail = e.what();
    }
    emit(b);
    if (!p.double_backward || gy.empty()) continue;  // (no gradient of the outputs: the forward failed)
    Row bb{name, "float32", "double backward"};
    bb.tolerance = gradient_check::double_backward_options_for(float32).rtol;
    try {
      gradient_check::check_double_backward(f, x, gy, random_like(x, seed + 8, dev),
                                            gradient_check::double_backward_options_for(float32));
    } catch (const Error& e) {
      bb.outcome = Outcome::failed;
      bb.detail = e.what();
    }
    emit(bb);
  }
  sum.fallbacks = dev.fallback_total() - fallbacks_before;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\', out += char(ch);
    else if (ch < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      out += b;
    } else {
      out += char(ch);
    }
  }
  return out + "\"";
}

// Fallback stays silent while the kit runs (it asks the device before each case; what
// falls back is counted instead), and comes back as it was.
struct SilentFallback {
  FallbackMode saved = runtime().fallback_mode();
  SilentFallback() { runtime().set_fallback_mode(FallbackMode::silent); }
  ~SilentFallback() { runtime().set_fallback_mode(saved); }
};

}  // namespace

Summary run(const Options& o, const std::function<void(const Row&)>& on_row) {
  Device& dev = device(o.device);
  SilentFallback quiet;
  Summary sum;
  auto emit = [&](const Row& r) {
    sum.rows.push_back(r);
    (r.outcome == Outcome::passed ? sum.passed : r.outcome == Outcome::failed ? sum.failed : sum.declined)++;
    if (on_row) on_row(r);
  };
  uint32_t seed = 1;
  for (const OpCase& c : op_cases(o.large)) {
    if (!matches(o.ops, c.op)) continue;
    for (const char* layout : kLayouts) {
      if (!c.layouts && std::string(layout) != "contiguous") continue;
      try {
        emit(run_case(c, layout, dev, seed++));
      } catch (const Error& e) {
        Row r{c.op, c.dtype, std::string(layout) + " " + c.what};
        r.outcome = Outcome::failed;
        r.detail = e.what();
        emit(r);
      }
    }
  }
  if (o.gradients) gradient_rows(o, dev, sum, emit);
  return sum;
}

std::string to_json(const Options& o, const Summary& s) {
  std::ostringstream out;
  out << "{\n  \"device\": " << json_string(o.device) << ",\n  \"ops\": " << json_string(o.ops)
      << ",\n  \"passed\": " << s.passed << ",\n  \"failed\": " << s.failed << ",\n  \"declined\": " << s.declined
      << ",\n  \"gradient_check_fallbacks\": " << s.fallbacks << ",\n  \"rows\": [";
  for (size_t i = 0; i < s.rows.size(); ++i) {
    const Row& r = s.rows[i];
    char nums[96];
    std::snprintf(nums, sizeof nums, "\"max_error\": %.6g, \"tolerance\": %.6g", std::isfinite(r.max_error) ? r.max_error : 1e308,
                  r.tolerance);
    out << (i ? ",\n" : "\n") << "    {\"op\": " << json_string(r.op) << ", \"dtype\": " << json_string(r.dtype)
        << ", \"variant\": " << json_string(r.variant) << ", \"outcome\": \"" << to_string(r.outcome) << "\", " << nums
        << ", \"detail\": " << json_string(r.detail) << "}";
  }
  out << "\n  ]\n}\n";
  return out.str();
}

}  // namespace conformance
}  // namespace catena
