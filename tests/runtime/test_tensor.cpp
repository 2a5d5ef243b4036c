#include "../support.hpp"

#include <doctest/doctest.h>

using namespace catena;

TEST_CASE("Shape: extents, size and printing") {
  Shape s{2, 3, 4};
  CHECK(s.ndim() == 3);
  CHECK(s.numel() == 24);
  CHECK(s.str() == "(2, 3, 4)");
  CHECK(Shape{5}.str() == "(5,)");
  CHECK(Shape{}.numel() == 1);
  CHECK_THROWS_AS(Shape({-1, 2}), Error);
  CHECK_THROWS_WITH_AS(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), doctest::Contains("at most 8"), Error);
}

TEST_CASE("Tensor: host round trip keeps values and dtype") {
  Device& cpu = runtime().cpu();
  std::vector<float> f = {1.5f, -2.f, 3.25f, 0.f, 7.f, -8.5f};
  Tensor t = Tensor::from_vector(f, Shape{2, 3}, cpu);
  CHECK(t.dtype() == float32);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.is_contiguous());
  CHECK(t.to_vector<float>() == f);

  std::vector<int64_t> i = {1, -2, 1LL << 40};
  CHECK(Tensor::from_vector(i, Shape{3}, cpu).to_vector<int64_t>() == i);

  CHECK_THROWS_WITH_AS(Tensor::from_vector(f, Shape{4, 2}, cpu), doctest::Contains("needs 32"), Error);
  CHECK_THROWS_WITH_AS(t.to_vector<double>(), doctest::Contains("holds float32"), Error);
}

TEST_CASE("Tensor: full, zeros and astype") {
  Device& cpu = runtime().cpu();
  CHECK(Tensor::full(Shape{3}, 2.5, float64, cpu).to_vector<double>() == std::vector<double>{2.5, 2.5, 2.5});
  CHECK(Tensor::zeros(Shape{2}, int32, cpu).to_vector<int32_t>() == std::vector<int32_t>{0, 0});
  Tensor h = Tensor::full(Shape{2}, 1.0 / 3.0, float16, cpu);
  CHECK(h.dtype().size() == 2);
  CHECK(h.astype(float32).to_vector<float>()[0] == doctest::Approx(0.33325).epsilon(1e-4));
  Tensor e = Tensor::empty(Shape{0, 3}, float32, cpu);
  CHECK(e.numel() == 0);
  CHECK(e.to_vector<float>().empty());
}

TEST_CASE("Tensor views: slice follows Python's rules") {
  Device& cpu = runtime().cpu();
  std::vector<float> v = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  Tensor t = Tensor::from_vector(v, Shape{10}, cpu);
  CHECK(t.slice(0, 2, 8, 3).to_vector<float>() == std::vector<float>{2, 5});
  CHECK(t.slice(0, -3, 100).to_vector<float>() == std::vector<float>{7, 8, 9});
  CHECK(t.slice(0, 8, 1, -3).to_vector<float>() == std::vector<float>{8, 5, 2});
  CHECK(t.slice(0, 9, -11, -1).to_vector<float>().size() == 10);
  CHECK(t.slice(0, 5, 2).numel() == 0);
  CHECK_THROWS_AS(t.slice(0, 0, 5, 0), Error);
  CHECK_THROWS_WITH_AS(t.slice(1, 0, 1), doctest::Contains("out of range"), Error);
}

TEST_CASE("Tensor views: transpose, broadcast, squeeze and reshape") {
  Device& cpu = runtime().cpu();
  std::vector<float> v = {0, 1, 2, 3, 4, 5};
  Tensor t = Tensor::from_vector(v, Shape{2, 3}, cpu);
  Tensor tt = t.transpose();
  CHECK(tt.shape() == Shape{3, 2});
  CHECK_FALSE(tt.is_contiguous());
  CHECK(tt.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(tt.reshape(Shape{6}).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  Tensor b = Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{3}, cpu).broadcast_to(Shape{2, 3});
  CHECK(b.to_vector<float>() == std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK_THROWS_WITH_AS(t.broadcast_to(Shape{4, 3}), doctest::Contains("cannot broadcast (2, 3) to (4, 3)"), Error);
  CHECK(t.expand_dims(1).shape() == Shape{2, 1, 3});
  CHECK(t.expand_dims(1).squeeze(1).shape() == Shape{2, 3});
  CHECK_THROWS_AS(t.squeeze(0), Error);
  CHECK_THROWS_WITH_AS(t.reshape(Shape{4}), doctest::Contains("cannot reshape (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(t.transpose({0, 0}), doctest::Contains("repeated"), Error);
}

TEST_CASE("Tensor: a view shares storage with its base") {
  Device& cpu = runtime().cpu();
  Tensor t = Tensor::zeros(Shape{2, 4}, float32, cpu);
  ops::fill(t.slice(1, 1, 4, 2), 5.0);
  CHECK(t.to_vector<float>() == std::vector<float>{0, 5, 0, 5, 0, 5, 0, 5});
}
