#include "../support.hpp"

#include <doctest/doctest.h>

using namespace catena;

namespace {

// A step of work that makes and drops temporaries of several sizes.
void workload(Device& d) {
  Tensor x = Tensor::full(Shape{64, 32}, 0.5, float32, d);
  Tensor w = Tensor::full(Shape{32, 16}, 0.25, float32, d);
  for (int i = 0; i < 3; ++i) {
    Tensor y = ops::add(x, x);
    Tensor z = ops::mul(y, x);
    Tensor s = ops::sum(z, {1});
    Tensor g = ops::gemm(x, w);
    Tensor e = ops::exp(g);
    (void)s.to_vector<float>();
    (void)e.to_vector<float>();
  }
}

void repeat_allocates_nothing(Device& d) {
  workload(d);  // warm the cache
  AllocatorStats before = d.allocator_stats();
  for (int i = 0; i < 5; ++i) workload(d);
  AllocatorStats after = d.allocator_stats();
  CHECK(after.device_allocs == before.device_allocs);
  CHECK(after.cache_hits > before.cache_hits);
  CHECK(after.bytes_in_use == before.bytes_in_use);
}

}  // namespace

TEST_CASE("allocator: repeating the same work allocates nothing new from the cpu") {
  repeat_allocates_nothing(runtime().cpu());
}

TEST_CASE("allocator: repeating the same work allocates nothing new from an opaque device") {
  repeat_allocates_nothing(device("opaque:0"));
}

TEST_CASE("allocator: empty_cache gives buffers back to the backend") {
  Device& d = runtime().cpu();
  { Tensor t = Tensor::empty(Shape{1000, 17}, float32, d); }
  AllocatorStats s = d.allocator_stats();
  CHECK(s.bytes_cached > 0);
  d.empty_cache();
  AllocatorStats e = d.allocator_stats();
  CHECK(e.bytes_cached == 0);
  CHECK(e.device_frees > s.device_frees);
}
