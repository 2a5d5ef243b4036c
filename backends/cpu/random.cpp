// core.random_uniform and core.random_normal: counter-based (Philox4x32-10), so a seed
// and a counter give the same numbers on every device and every run, and a stream can be
// resumed exactly from (seed, counter).
#include "kernels.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <cmath>

namespace catena_cpu {

namespace {

struct Philox {
  // Philox4x32-10 (Salmon et al., 2011): 4 x 32-bit counter, 2 x 32-bit key.
  static void round(uint32_t c[4], const uint32_t k[2]) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c[0], p1 = uint64_t(0xCD9E8D57u) * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0), hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
  }
  static void block(uint64_t seed, uint64_t counter, uint32_t out[4]) {
    uint32_t c[4] = {uint32_t(counter), uint32_t(counter >> 32), 0, 0};
    uint32_t k[2] = {uint32_t(seed), uint32_t(seed >> 32)};
    for (int r = 0; r < 10; ++r) {
      round(c, k);
      k[0] += 0x9E3779B9u;
      k[1] += 0xBB67AE85u;
    }
    for (int i = 0; i < 4; ++i) out[i] = c[i];
  }
};

// Element i uses the words of block (offset + i/2): two 32-bit words per element, so
// float32 and float64 draw from the same positions.
inline void words(uint64_t seed, uint64_t offset, int64_t i, uint32_t* a, uint32_t* b) {
  uint32_t w[4];
  Philox::block(seed, offset + uint64_t(i) / 2, w);
  int lane = int(i & 1) * 2;
  *a = w[lane];
  *b = w[lane + 1];
}

// A double in [0, 1) from 53 random bits.
inline double unit(uint32_t a, uint32_t b) { return double((uint64_t(a) << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0); }

template <bool Normal>
void run_random(const ct_op& op) {
  const ct_tensor* y = op.outputs[0];
  uint64_t seed = static_cast<uint64_t>(attr_int(op, "seed", 0));
  uint64_t offset = static_cast<uint64_t>(attr_int(op, "offset", 0));
  double lo = attr_float(op, "low", 0.0), hi = attr_float(op, "high", 1.0);
  double mean = attr_float(op, "mean", 0.0), stddev = attr_float(op, "stddev", 1.0);
  int64_t n = numel(y);
  visit(ty_of(y->dl.dtype), [&](auto tag) {
    using T = decltype(tag);
    using CT = Compute<T>;
    char* base = base_of(y);
    parallel_for(n, 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        // i is the row-major position; find the element's strided offset.
        int64_t off = 0, rem = i;
        for (int d = y->dl.ndim - 1; d >= 0; --d) {
          off += (rem % y->dl.shape[d]) * y->dl.strides[d];
          rem /= y->dl.shape[d];
        }
        uint32_t a, c;
        words(seed, offset, i, &a, &c);
        double v;
        if (Normal) {
          // Box-Muller on two uniforms; 1 - u keeps the logarithm finite.
          double u1 = 1.0 - unit(a, c);
          uint32_t a2, c2;
          words(seed ^ 0x5851F42D4C957F2Dull, offset, i, &a2, &c2);
          double u2 = unit(a2, c2);
          v = mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
        } else {
          v = lo + (hi - lo) * unit(a, c);
        }
        reinterpret_cast<T*>(base)[off] = CT::store(static_cast<typename CT::type>(v));
      }
    });
    return 0;
  });
}

const char* support_random(const ct_op& op) {
  if (op.num_inputs != 0 || op.num_outputs != 1) return "takes no input and one output";
  Ty t = ty_of(op.outputs[0]->dl.dtype);
  if (!is_float(t)) return "needs a floating-point output";
  if (!find_attr(op, "seed") || !find_attr(op, "offset")) return "missing attribute seed or offset";
  return nullptr;
}

}  // namespace

void add_random_kernels(std::vector<KernelDef>& k) {
  k.push_back({"core.random_uniform", 1, support_random, run_random<false>});
  k.push_back({"core.random_normal", 1, support_random, run_random<true>});
}

}  // namespace catena_cpu
