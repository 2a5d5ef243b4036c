// Forward and backward values of every function against real Chainer 7.8.1: the data in
// tests/data/chainer_reference.txt was computed by tests/data/make_chainer_reference.py.
#include "../support.hpp"

#include <catena/functions.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

using namespace catena;

namespace {

using Fn = std::function<std::vector<Variable>(const std::vector<Variable>&)>;
using F1 = std::function<Variable(const std::vector<Variable>&)>;

const std::map<std::string, Fn>& functions() {
  static const std::map<std::string, F1> single = {
      {"exp", [](const std::vector<Variable>& v) { return F::exp(v[0]); }},
      {"log", [](const std::vector<Variable>& v) { return F::log(v[0]); }},
      {"sqrt", [](const std::vector<Variable>& v) { return F::sqrt(v[0]); }},
      {"square", [](const std::vector<Variable>& v) { return F::square(v[0]); }},
      {"absolute", [](const std::vector<Variable>& v) { return F::absolute(v[0]); }},
      {"sin", [](const std::vector<Variable>& v) { return F::sin(v[0]); }},
      {"cos", [](const std::vector<Variable>& v) { return F::cos(v[0]); }},
      {"identity", [](const std::vector<Variable>& v) { return F::identity(v[0]); }},
      {"neg", [](const std::vector<Variable>& v) { return -v[0]; }},
      {"relu", [](const std::vector<Variable>& v) { return F::relu(v[0]); }},
      {"leaky_relu", [](const std::vector<Variable>& v) { return F::leaky_relu(v[0], 0.2); }},
      {"sigmoid", [](const std::vector<Variable>& v) { return F::sigmoid(v[0]); }},
      {"tanh", [](const std::vector<Variable>& v) { return F::tanh(v[0]); }},
      {"softplus", [](const std::vector<Variable>& v) { return F::softplus(v[0]); }},
      {"elu", [](const std::vector<Variable>& v) { return F::elu(v[0]); }},
      {"selu", [](const std::vector<Variable>& v) { return F::selu(v[0]); }},
      {"clip", [](const std::vector<Variable>& v) { return F::clip(v[0], -0.5, 0.5); }},
      {"pow_scalar", [](const std::vector<Variable>& v) { return F::pow(v[0], 3.0); }},
      {"add_scalar", [](const std::vector<Variable>& v) { return v[0] + 2.0; }},
      {"rsub_scalar", [](const std::vector<Variable>& v) { return 3.0 - v[0]; }},
      {"mul_scalar", [](const std::vector<Variable>& v) { return v[0] * 4.0; }},
      {"rdiv_scalar", [](const std::vector<Variable>& v) { return 2.0 / v[0]; }},
      {"add", [](const std::vector<Variable>& v) { return v[0] + v[1]; }},
      {"sub", [](const std::vector<Variable>& v) { return v[0] - v[1]; }},
      {"mul", [](const std::vector<Variable>& v) { return v[0] * v[1]; }},
      {"div", [](const std::vector<Variable>& v) { return v[0] / v[1]; }},
      {"pow", [](const std::vector<Variable>& v) { return F::pow(v[0], v[1]); }},
      {"maximum", [](const std::vector<Variable>& v) { return F::maximum(v[0], v[1]); }},
      {"minimum", [](const std::vector<Variable>& v) { return F::minimum(v[0], v[1]); }},
      {"sum_axis1", [](const std::vector<Variable>& v) { return F::sum(v[0], {1}); }},
      {"sum_all", [](const std::vector<Variable>& v) { return F::sum(v[0]); }},
      {"mean_axes02", [](const std::vector<Variable>& v) { return F::mean(v[0], {0, 2}); }},
      {"max_axis1", [](const std::vector<Variable>& v) { return F::max(v[0], {1}); }},
      {"min_axis2_keepdims", [](const std::vector<Variable>& v) { return F::min(v[0], {2}, true); }},
      {"logsumexp_axis1", [](const std::vector<Variable>& v) { return F::logsumexp(v[0], {1}); }},
      {"softmax", [](const std::vector<Variable>& v) { return F::softmax(v[0], 1); }},
      {"softmax_axis0", [](const std::vector<Variable>& v) { return F::softmax(v[0], 0); }},
      {"log_softmax", [](const std::vector<Variable>& v) { return F::log_softmax(v[0], 1); }},
      {"reshape", [](const std::vector<Variable>& v) { return F::reshape(v[0], Shape{3, 2}); }},
      {"broadcast_to", [](const std::vector<Variable>& v) { return F::broadcast_to(v[0], Shape{4, 2, 3}); }},
      {"sum_to", [](const std::vector<Variable>& v) { return F::sum_to(v[0], Shape{1, 3}); }},
      {"transpose", [](const std::vector<Variable>& v) { return F::transpose(v[0], {2, 0, 1}); }},
      {"expand_dims", [](const std::vector<Variable>& v) { return F::expand_dims(v[0], 1); }},
      {"squeeze", [](const std::vector<Variable>& v) { return F::squeeze(v[0]); }},
      {"flatten", [](const std::vector<Variable>& v) { return F::flatten(v[0]); }},
      {"linear", [](const std::vector<Variable>& v) { return F::linear(v[0], v[1], v[2]); }},
      {"linear_nobias", [](const std::vector<Variable>& v) { return F::linear(v[0], v[1]); }},
      {"matmul", [](const std::vector<Variable>& v) { return F::matmul(v[0], v[1]); }},
      {"matmul_tt", [](const std::vector<Variable>& v) { return F::matmul(v[0], v[1], true, true); }},
      {"matmul_batched", [](const std::vector<Variable>& v) { return F::matmul(v[0], v[1]); }},
      {"mean_squared_error", [](const std::vector<Variable>& v) { return F::mean_squared_error(v[0], v[1]); }},
      {"get_item_slices",
       [](const std::vector<Variable>& v) {
         return F::get_item(v[0], {F::Index::range(1, {}), F::Index::range({}, {}, -2)});
       }},
      {"get_item_int_newaxis",
       [](const std::vector<Variable>& v) { return F::get_item(v[0], {F::Index::all(), 1, F::Index::newaxis()}); }},
      {"get_item_array",
       [](const std::vector<Variable>& v) {
         Tensor idx = Tensor::from_vector(std::vector<int32_t>{0, 2, 2}, Shape{3}, v[0].device());
         return F::get_item(v[0], {F::Index::all(), F::Index(idx)});
       }},
      {"concat", [](const std::vector<Variable>& v) { return F::concat({v[0], v[1]}, 1); }},
      {"stack", [](const std::vector<Variable>& v) { return F::stack({v[0], v[1]}, 1); }},
      {"split_axis", [](const std::vector<Variable>& v) { return F::split_axis(v[0], 2, 1)[1]; }},
      {"embed_id", [](const std::vector<Variable>& v) { return F::embed_id(v[0].array(), v[1]); }},
      {"embed_id_ignore", [](const std::vector<Variable>& v) { return F::embed_id(v[0].array(), v[1], -1); }},
      {"select_item", [](const std::vector<Variable>& v) { return F::select_item(v[0], v[1].array()); }},
      {"convolution_2d", [](const std::vector<Variable>& v) { return F::convolution_2d(v[0], v[1], v[2], 2, 1); }},
      {"convolution_2d_dilate_groups",
       [](const std::vector<Variable>& v) { return F::convolution_2d(v[0], v[1], Variable(), 1, 2, false, 2, 3); }},
      {"convolution_2d_cover_all",
       [](const std::vector<Variable>& v) { return F::convolution_2d(v[0], v[1], Variable(), 2, 0, true); }},
      {"deconvolution_2d", [](const std::vector<Variable>& v) { return F::deconvolution_2d(v[0], v[1], v[2], 2, 1); }},
      {"deconvolution_2d_outsize",
       [](const std::vector<Variable>& v) {
         return F::deconvolution_2d(v[0], v[1], Variable(), 2, 1, std::make_pair(int64_t(6), int64_t(6)));
       }},
      {"max_pooling_2d", [](const std::vector<Variable>& v) { return F::max_pooling_2d(v[0], 3, 2, 1); }},
      {"max_pooling_2d_nocover", [](const std::vector<Variable>& v) { return F::max_pooling_2d(v[0], 2, {}, 0, false); }},
      {"average_pooling_2d", [](const std::vector<Variable>& v) { return F::average_pooling_2d(v[0], 3, 2, 1); }},
      {"batch_normalization", [](const std::vector<Variable>& v) { return F::batch_normalization(v[0], v[1], v[2]); }},
      {"batch_normalization_2d",
       [](const std::vector<Variable>& v) { return F::batch_normalization(v[0], v[1], v[2], 1e-3); }},
      {"fixed_batch_normalization",
       [](const std::vector<Variable>& v) { return F::fixed_batch_normalization(v[0], v[1], v[2], v[3], v[4]); }},
      {"softmax_cross_entropy", [](const std::vector<Variable>& v) { return F::softmax_cross_entropy(v[0], v[1].array()); }},
      {"softmax_cross_entropy_ignore",
       [](const std::vector<Variable>& v) { return F::softmax_cross_entropy(v[0], v[1].array()); }},
      {"softmax_cross_entropy_unnormalized",
       [](const std::vector<Variable>& v) { return F::softmax_cross_entropy(v[0], v[1].array(), false); }},
      {"softmax_cross_entropy_no_reduce",
       [](const std::vector<Variable>& v) { return F::softmax_cross_entropy(v[0], v[1].array(), true, -1, "no"); }},
      {"softmax_cross_entropy_weighted",
       [](const std::vector<Variable>& v) {
         Tensor w = Tensor::from_vector(std::vector<double>{0.5, 1.0, 2.0, 1.5}, Shape{4}, v[0].device()).astype(v[0].dtype());
         return F::softmax_cross_entropy(v[0], v[1].array(), true, -1, "mean", w);
       }},
      {"softmax_cross_entropy_spatial",
       [](const std::vector<Variable>& v) { return F::softmax_cross_entropy(v[0], v[1].array()); }},
      {"sigmoid_cross_entropy", [](const std::vector<Variable>& v) { return F::sigmoid_cross_entropy(v[0], v[1].array()); }},
      {"sigmoid_cross_entropy_no_reduce",
       [](const std::vector<Variable>& v) { return F::sigmoid_cross_entropy(v[0], v[1].array(), true, "no"); }},
      {"hinge_l1", [](const std::vector<Variable>& v) { return F::hinge(v[0], v[1].array()); }},
      {"hinge_l2", [](const std::vector<Variable>& v) { return F::hinge(v[0], v[1].array(), "L2"); }},
      {"contrastive", [](const std::vector<Variable>& v) { return F::contrastive(v[0], v[1], v[2].array(), 1.5); }},
      {"triplet", [](const std::vector<Variable>& v) { return F::triplet(v[0], v[1], v[2], 0.5); }},
      {"accuracy", [](const std::vector<Variable>& v) { return F::accuracy(v[0], v[1].array()); }},
      {"accuracy_ignore", [](const std::vector<Variable>& v) { return F::accuracy(v[0], v[1].array(), -1); }},
      {"where", [](const std::vector<Variable>& v) { return F::where(v[0].array(), v[1], v[2]); }},
      {"cast_float16", [](const std::vector<Variable>& v) { return F::cast(v[0], float16); }},
      {"argmax", [](const std::vector<Variable>& v) { return F::argmax(v[0], 1); }},
      {"add_n", [](const std::vector<Variable>& v) { return F::add(std::vector<Variable>{v[0], v[1], v[2]}); }},
  };
  static const std::map<std::string, Fn> fns = [] {
    std::map<std::string, Fn> m;
    for (const auto& [name, f] : single) m[name] = [f](const std::vector<Variable>& v) { return std::vector<Variable>{f(v)}; };
    m["broadcast"] = [](const std::vector<Variable>& v) { return F::broadcast({v[0], v[1]}); };
    m["lstm"] = m["lstm_shrink"] = [](const std::vector<Variable>& v) {
      auto [c, h] = F::lstm(v[0], v[1]);
      return std::vector<Variable>{c, h};
    };
    return m;
  }();
  return fns;
}

struct Array {
  Dtype dtype;
  Shape shape;
  std::vector<double> values;
  Tensor tensor(Device& d) const { return Tensor::from_vector(values, shape, d).astype(dtype); }
};

struct Case {
  std::string name;
  Dtype dtype;
  std::vector<Array> inputs, gys, outputs;
  std::vector<std::optional<Array>> grads;  // none for an integer input
};

Array parse_array(std::istringstream& in) {
  std::string dt, shape;
  in >> dt >> shape;
  Array a;
  a.dtype = dtype_from_name(dt);
  if (shape != "-")
    for (const std::string& d : catena_test::split(shape))
      a.shape.push_back(std::stoll(d));
  double v;
  while (in >> v) a.values.push_back(v);
  return a;
}

std::vector<Case> load_cases() {
  std::string path = catena_test::build_path("CATENA_TEST_DATA", CATENA_TEST_DATA_DIR) + "/chainer_reference.txt";
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "cannot read " << path);
  std::vector<Case> cases;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "case") {
      Case c;
      std::string dt;
      in >> c.name >> dt;
      c.dtype = dtype_from_name(dt);
      cases.push_back(c);
    } else if (kind == "input") {
      cases.back().inputs.push_back(parse_array(in));
    } else if (kind == "gy") {
      cases.back().gys.push_back(parse_array(in));
    } else if (kind == "output") {
      cases.back().outputs.push_back(parse_array(in));
    } else if (kind == "grad") {
      if (line.find("grad - -") == 0) cases.back().grads.push_back(std::nullopt);
      else cases.back().grads.push_back(parse_array(in));
    }
  }
  return cases;
}

void check_close(const Tensor& got, const Array& want, double tol, const char* what) {
  CHECK(got.shape() == want.shape);
  std::vector<double> g = got.astype(float64).to_vector<double>();
  REQUIRE(g.size() == want.values.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO(what << " element " << i << ": Catena " << g[i] << ", Chainer " << want.values[i]);
    CHECK(std::abs(g[i] - want.values[i]) <= tol + tol * std::abs(want.values[i]));
  }
}

void run_cases(Device& d) {
  std::vector<Case> cases = load_cases();
  CHECK(cases.size() == 2 * functions().size());  // every function, float32 and float64
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.dtype.name());
    bool computed = catena_test::computes_in(c.dtype, d);
    for (const Array& a : c.inputs) computed = computed && catena_test::computes_in(a.dtype, d);
    for (const Array& a : c.outputs) computed = computed && catena_test::computes_in(a.dtype, d);
    if (!computed) continue;  // a dtype the device has not (float16 on most OpenCL devices)
    auto it = functions().find(c.name);
    REQUIRE_MESSAGE(it != functions().end(), "no Catena function for the case " << c.name);
    std::vector<Variable> xs;
    for (const Array& a : c.inputs) xs.emplace_back(a.tensor(d));
    std::vector<Variable> ys = it->second(xs);
    REQUIRE(ys.size() == c.outputs.size());
    auto tol_for = [](Dtype d) { return d == float16 ? 1e-3 : d == float32 ? 2e-6 : d == float64 ? 1e-12 : 0.0; };
    for (size_t k = 0; k < ys.size(); ++k) {
      CHECK(ys[k].dtype() == c.outputs[k].dtype);
      check_close(ys[k].array(), c.outputs[k], tol_for(c.outputs[k].dtype), "output");
    }
    for (size_t i = 0; i < xs.size(); ++i)  // inputs are left unmodified
      CHECK(xs[i].array().astype(float64).to_vector<double>() == c.inputs[i].values);
    if (c.gys.empty()) continue;  // not differentiable
    std::vector<Variable> gys;
    for (const Array& g : c.gys) gys.emplace_back(g.tensor(d), false);
    backward(ys, gys);
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!c.grads[i]) {
        CHECK_FALSE(xs[i].grad().defined());
        continue;
      }
      REQUIRE(xs[i].grad().defined());
      check_close(xs[i].grad(), *c.grads[i], tol_for(c.grads[i]->dtype), "gradient");
    }
  }
}

}  // namespace

// On the default device (CATENA_DEVICE; opencl:0 in the OpenCL suite).
TEST_CASE("every function matches Chainer 7.8.1, forward and backward, float32 and float64") { run_cases(default_device()); }

TEST_CASE("the same cases match on a device without host memory (through fallback)" * doctest::test_suite("fallback")) {
  run_cases(device("opaque:0"));
}
