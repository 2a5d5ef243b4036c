// Forward and backward values of every function against real Chainer 7.8.1: the data in
// tests/data/chainer_reference.txt was computed by tests/data/make_chainer_reference.py.
#include "../support.hpp"

#include <catena/functions.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

using namespace catena;

namespace {

using Fn = std::function<Variable(const std::vector<Variable>&)>;

const std::map<std::string, Fn>& functions() {
  static const std::map<std::string, Fn> fns = {
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
  };
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
  std::vector<Array> inputs, grads;
  Array gy, output;
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
      cases.back().gy = parse_array(in);
    } else if (kind == "output") {
      cases.back().output = parse_array(in);
    } else if (kind == "grad") {
      cases.back().grads.push_back(parse_array(in));
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
    auto it = functions().find(c.name);
    REQUIRE_MESSAGE(it != functions().end(), "no Catena function for the case " << c.name);
    std::vector<Variable> xs;
    for (const Array& a : c.inputs) xs.emplace_back(a.tensor(d));
    Variable y = it->second(xs);
    CHECK(y.dtype() == c.dtype);
    double tol = c.dtype == float32 ? 2e-6 : 1e-12;
    check_close(y.array(), c.output, tol, "output");
    y.set_grad(c.gy.tensor(d));
    y.backward();
    for (size_t i = 0; i < xs.size(); ++i) {
      REQUIRE(xs[i].grad().defined());
      check_close(xs[i].grad(), c.grads[i], tol, "gradient");
    }
  }
}

}  // namespace

TEST_CASE("every function matches Chainer 7.8.1, forward and backward, float32 and float64") { run_cases(runtime().cpu()); }

TEST_CASE("the same cases match on a device without host memory (through fallback)") { run_cases(device("opaque:0")); }
