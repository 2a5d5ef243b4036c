#include <catena/catalog.hpp>
#include <catena/functions.hpp>

namespace catena {

namespace {

Tensor f32(Device& d, const Shape& s, double v = 0.5) { return Tensor::full(s, v, float32, d); }
Tensor i32(Device& d, const std::vector<int32_t>& v) { return Tensor::from_vector(v, Shape{int64_t(v.size())}, d); }

OpProbe unary(const char* name) {
  return {name, 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs&) {
            in = {f32(d, Shape{2, 3})};
            out = {Tensor::empty(Shape{2, 3}, float32, d)};
          }};
}

OpProbe binary(const char* name, Dtype out_dtype = float32) {
  return {name, 1, [out_dtype](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs&) {
            in = {f32(d, Shape{2, 3}), f32(d, Shape{2, 3}, 2.0)};
            out = {Tensor::empty(Shape{2, 3}, out_dtype, d)};
          }};
}

OpProbe reduction(const char* name) {
  return {name, 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
            in = {f32(d, Shape{2, 3})};
            out = {Tensor::empty(Shape{2, 1}, float32, d)};
            a.ints("axes", {1});
          }};
}

ops::Conv2d conv_geometry() {
  ops::Conv2d g;
  g.ph = g.pw = 1;
  return g;
}

ops::Pool2d pool_geometry() {
  ops::Pool2d p;
  p.kh = p.kw = p.sy = p.sx = 2;
  return p;
}

std::vector<Variable> one(const Variable& v) { return {v}; }
Variable v32(Device& d, const Shape& s, double lo = -1, double hi = 1) {
  // Distinct values, so max/argmax and sorting-like functions see no ties.
  // i -> (i k) mod (n + 1) with k prime to n + 1 visits n distinct steps of the range.
  std::vector<float> x(static_cast<size_t>(s.numel()));
  const size_t m = x.size() + 1;
  size_t k = 7;
  for (size_t p : {7, 11, 13, 17, 19, 23})
    if (m % p != 0) {
      k = p;
      break;
    }
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(lo + (hi - lo) * double((i * k + 1) % m) / double(m));
  return Variable(Tensor::from_vector(x, s, d));
}

}  // namespace

const std::vector<OpProbe>& core_ops() {
  static const std::vector<OpProbe> probes = [] {
    std::vector<OpProbe> p;
    p.push_back({"core.fill", 1, [](Device& d, std::vector<Tensor>&, std::vector<Tensor>& out, Attrs& a) {
                   out = {Tensor::empty(Shape{2, 3}, float32, d)};
                   a.f("value", 1.0);
                 }});
    p.push_back({"core.copy", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs&) {
                   in = {f32(d, Shape{2, 3})};
                   out = {Tensor::empty(Shape{2, 3}, float32, d)};
                 }});
    for (const char* n : {"core.neg", "core.abs", "core.square", "core.relu", "core.sqrt", "core.exp", "core.log",
                          "core.sin", "core.cos", "core.tanh", "core.sigmoid"})
      p.push_back(unary(n));
    for (const char* n : {"core.add", "core.sub", "core.mul", "core.div", "core.maximum", "core.minimum", "core.pow"})
      p.push_back(binary(n));
    for (const char* n : {"core.equal", "core.not_equal", "core.less", "core.less_equal", "core.greater",
                          "core.greater_equal"})
      p.push_back(binary(n, bool_));
    p.push_back({"core.where", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs&) {
                   in = {Tensor::zeros(Shape{2, 3}, bool_, d), f32(d, Shape{2, 3}), f32(d, Shape{2, 3})};
                   out = {Tensor::empty(Shape{2, 3}, float32, d)};
                 }});
    for (const char* n : {"core.sum", "core.mean", "core.max", "core.min"}) p.push_back(reduction(n));
    p.push_back({"core.argmax", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{2, 3})};
                   out = {Tensor::empty(Shape{2, 1}, int64, d)};
                   a.i("axis", 1);
                 }});
    p.push_back({"core.gemm", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{2, 3}), f32(d, Shape{3, 4})};
                   out = {Tensor::empty(Shape{2, 4}, float32, d)};
                   a.b("trans_a", false).b("trans_b", false).f("alpha", 1.0).f("beta", 0.0);
                 }});
    p.push_back({"core.take", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{4, 3}), i32(d, {0, 2})};
                   out = {Tensor::empty(Shape{2, 3}, float32, d)};
                   a.i("axis", 0);
                 }});
    p.push_back({"core.take_add", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{4, 3}), i32(d, {0, 2}), f32(d, Shape{2, 3})};
                   out = {Tensor::empty(Shape{4, 3}, float32, d)};
                   a.i("axis", 0);
                 }});
    p.push_back({"core.quantize", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs&) {
                   in = {f32(d, Shape{2, 3}), Tensor::full(Shape{2, 3}, 50.0, float32, d)};
                   out = {Tensor::empty(Shape{2, 3}, int8, d)};
                 }});
    p.push_back({"core.dequantize", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs&) {
                   in = {Tensor::zeros(Shape{2, 3}, int8, d), Tensor::full(Shape{2, 3}, 0.02, float32, d)};
                   out = {Tensor::empty(Shape{2, 3}, float32, d)};
                 }});
    p.push_back({"core.gemm_i8", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs&) {
                   in = {Tensor::zeros(Shape{2, 3}, int8, d), Tensor::zeros(Shape{4, 3}, int8, d),
                         Tensor::full(Shape{2}, 0.1, float32, d), Tensor::full(Shape{4}, 0.1, float32, d)};
                   out = {Tensor::empty(Shape{2, 4}, float32, d)};
                 }});
    for (const char* n : {"core.random_uniform", "core.random_normal"})
      p.push_back({n, 1, [](Device& d, std::vector<Tensor>&, std::vector<Tensor>& out, Attrs& a) {
                     out = {Tensor::empty(Shape{2, 3}, float32, d)};
                     a.i("seed", 1).i("offset", 0);
                   }});
    p.push_back({"core.conv2d", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 2, 4, 4}), f32(d, Shape{3, 2, 3, 3})};
                   out = {Tensor::empty(Shape{1, 3, 4, 4}, float32, d)};
                   a = conv_geometry().attrs();
                 }});
    p.push_back({"core.conv2d_grad_input", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 3, 4, 4}), f32(d, Shape{3, 2, 3, 3})};
                   out = {Tensor::empty(Shape{1, 2, 4, 4}, float32, d)};
                   a = conv_geometry().attrs();
                 }});
    p.push_back({"core.conv2d_grad_weight", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 2, 4, 4}), f32(d, Shape{1, 3, 4, 4})};
                   out = {Tensor::empty(Shape{3, 2, 3, 3}, float32, d)};
                   a = conv_geometry().attrs();
                 }});
    p.push_back({"core.max_pool2d", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 2, 4, 4})};
                   out = {Tensor::empty(Shape{1, 2, 2, 2}, float32, d), Tensor::empty(Shape{1, 2, 2, 2}, int32, d)};
                   a = pool_geometry().attrs();
                 }});
    p.push_back({"core.max_pool2d_grad", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 2, 2, 2}), Tensor::zeros(Shape{1, 2, 2, 2}, int32, d)};
                   out = {Tensor::empty(Shape{1, 2, 4, 4}, float32, d)};
                   a = pool_geometry().attrs();
                 }});
    p.push_back({"core.max_pool2d_gather", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 2, 4, 4}), Tensor::zeros(Shape{1, 2, 2, 2}, int32, d)};
                   out = {Tensor::empty(Shape{1, 2, 2, 2}, float32, d)};
                   a = pool_geometry().attrs();
                 }});
    p.push_back({"core.avg_pool2d", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 2, 4, 4})};
                   out = {Tensor::empty(Shape{1, 2, 2, 2}, float32, d)};
                   a = pool_geometry().attrs();
                 }});
    p.push_back({"core.avg_pool2d_grad", 1, [](Device& d, std::vector<Tensor>& in, std::vector<Tensor>& out, Attrs& a) {
                   in = {f32(d, Shape{1, 2, 2, 2})};
                   out = {Tensor::empty(Shape{1, 2, 4, 4}, float32, d)};
                   a = pool_geometry().attrs();
                 }});
    return p;
  }();
  return probes;
}

std::vector<Tensor> FunctionProbe::arguments(Device& device) const {
  std::vector<Tensor> x;
  for (const Input& in : inputs) x.push_back(v32(device, in.shape, in.lo, in.hi).array());
  return x;
}

std::vector<Variable> FunctionProbe::run(Device& device) const {
  std::vector<Variable> x;
  for (const Tensor& t : arguments(device)) x.push_back(Variable(t));
  return apply(device, x);
}

const std::vector<FunctionProbe>& functions_catalog() {
  using D = Device&;
  using V = const std::vector<Variable>&;
  using In = std::vector<FunctionProbe::Input>;
  const Shape s23{2, 3};
  const In x23{{s23}}, two23{{s23}, {s23}};
  static const std::vector<FunctionProbe> fns = {
      {"add", true, {{s23}, {Shape{3}}}, [](D, V x) { return one(x[0] + x[1]); }},
      {"sub", true, two23, [](D, V x) { return one(x[0] - x[1]); }},
      {"mul", true, two23, [](D, V x) { return one(x[0] * x[1]); }},
      {"div", true, {{s23}, {s23, 1, 2}}, [](D, V x) { return one(x[0] / x[1]); }},
      {"neg", true, x23, [](D, V x) { return one(-x[0]); }},
      {"pow", true, {{s23, 0.5, 1}}, [](D, V x) { return one(F::pow(x[0], 2.0)); }},
      {"maximum", true, {{s23}, {s23, 0, 1}}, [](D, V x) { return one(F::maximum(x[0], x[1])); }},
      {"minimum", true, {{s23}, {s23, 0, 1}}, [](D, V x) { return one(F::minimum(x[0], x[1])); }},
      {"exp", true, x23, [](D, V x) { return one(F::exp(x[0])); }},
      {"log", true, {{s23, 1, 2}}, [](D, V x) { return one(F::log(x[0])); }},
      {"sqrt", true, {{s23, 1, 2}}, [](D, V x) { return one(F::sqrt(x[0])); }},
      {"square", true, x23, [](D, V x) { return one(F::square(x[0])); }},
      {"absolute", true, x23, [](D, V x) { return one(F::absolute(x[0])); }},
      {"sin", true, x23, [](D, V x) { return one(F::sin(x[0])); }},
      {"cos", true, x23, [](D, V x) { return one(F::cos(x[0])); }},
      {"clip", true, x23, [](D, V x) { return one(F::clip(x[0], -0.5, 0.5)); }},
      {"identity", true, x23, [](D, V x) { return one(F::identity(x[0])); }},
      {"relu", true, x23, [](D, V x) { return one(F::relu(x[0])); }},
      {"leaky_relu", true, x23, [](D, V x) { return one(F::leaky_relu(x[0])); }},
      {"sigmoid", true, x23, [](D, V x) { return one(F::sigmoid(x[0])); }},
      {"tanh", true, x23, [](D, V x) { return one(F::tanh(x[0])); }},
      {"softplus", true, x23, [](D, V x) { return one(F::softplus(x[0])); }},
      {"elu", true, x23, [](D, V x) { return one(F::elu(x[0])); }},
      {"selu", true, x23, [](D, V x) { return one(F::selu(x[0])); }},
      {"softmax", true, x23, [](D, V x) { return one(F::softmax(x[0])); }},
      {"log_softmax", true, x23, [](D, V x) { return one(F::log_softmax(x[0])); }},
      {"reshape", true, x23, [](D, V x) { return one(F::reshape(x[0], Shape{3, 2})); }},
      {"broadcast", true, {{Shape{2, 1}}, {Shape{3}}}, [](D, V x) { return F::broadcast({x[0], x[1]}); }},
      {"broadcast_to", true, {{Shape{3}}}, [](D, V x) { return one(F::broadcast_to(x[0], Shape{2, 3})); }},
      {"sum_to", true, x23, [](D, V x) { return one(F::sum_to(x[0], Shape{1, 3})); }},
      {"transpose", true, x23, [](D, V x) { return one(F::transpose(x[0])); }},
      {"expand_dims", true, x23, [](D, V x) { return one(F::expand_dims(x[0], 0)); }},
      {"squeeze", true, {{Shape{2, 1, 3}}}, [](D, V x) { return one(F::squeeze(x[0])); }},
      {"flatten", true, x23, [](D, V x) { return one(F::flatten(x[0])); }},
      {"cast", true, x23, [](D, V x) { return one(F::cast(x[0], float64)); }},
      {"where", true, two23, [](D d, V x) { return one(F::where(Tensor::zeros(Shape{2, 3}, bool_, d), x[0], x[1])); }},
      {"get_item", true, {{Shape{3, 4}}}, [](D, V x) { return one(F::get_item(x[0], {F::Index::range(1, {}), 2})); }},
      {"concat", true, {{s23}, {Shape{2, 2}}}, [](D, V x) { return one(F::concat({x[0], x[1]}, 1)); }},
      {"stack", true, two23, [](D, V x) { return one(F::stack({x[0], x[1]})); }},
      {"split_axis", true, {{Shape{2, 4}}}, [](D, V x) { return F::split_axis(x[0], 2, 1); }},
      {"embed_id", true, {{Shape{3, 4}}}, [](D d, V x) { return one(F::embed_id(i32(d, {0, 2}), x[0])); }},
      {"select_item", true, x23, [](D d, V x) { return one(F::select_item(x[0], i32(d, {0, 2}))); }},
      {"sum", true, x23, [](D, V x) { return one(F::sum(x[0], {1})); }},
      {"mean", true, x23, [](D, V x) { return one(F::mean(x[0])); }},
      {"max", true, x23, [](D, V x) { return one(F::max(x[0], {1})); }},
      {"min", true, x23, [](D, V x) { return one(F::min(x[0], {1})); }},
      {"logsumexp", true, x23, [](D, V x) { return one(F::logsumexp(x[0], {1})); }},
      {"linear", true, {{s23}, {Shape{4, 3}}, {Shape{4}}}, [](D, V x) { return one(F::linear(x[0], x[1], x[2])); }},
      {"matmul", true, {{s23}, {Shape{3, 4}}}, [](D, V x) { return one(F::matmul(x[0], x[1])); }},
      {"convolution_2d", true, {{Shape{1, 2, 4, 4}}, {Shape{3, 2, 3, 3}}, {Shape{3}}},
       [](D, V x) { return one(F::convolution_2d(x[0], x[1], x[2], 1, 1)); }},
      {"deconvolution_2d", true, {{Shape{1, 3, 3, 3}}, {Shape{3, 2, 3, 3}}},
       [](D, V x) { return one(F::deconvolution_2d(x[0], x[1], Variable(), 2, 1)); }},
      {"max_pooling_2d", true, {{Shape{1, 2, 4, 4}}}, [](D, V x) { return one(F::max_pooling_2d(x[0], 2)); }},
      {"average_pooling_2d", true, {{Shape{1, 2, 4, 4}}}, [](D, V x) { return one(F::average_pooling_2d(x[0], 2)); }},
      {"batch_normalization", true, {{Shape{4, 3}}, {Shape{3}, 1, 2}, {Shape{3}}},
       [](D, V x) { return one(F::batch_normalization(x[0], x[1], x[2])); }},
      {"fixed_batch_normalization", true, {{Shape{4, 3}}, {Shape{3}, 1, 2}, {Shape{3}}, {Shape{3}}, {Shape{3}, 1, 2}},
       [](D, V x) { return one(F::fixed_batch_normalization(x[0], x[1], x[2], x[3], x[4])); }},
      // A new mask on every call: no numeric gradient to compare with.
      {"dropout", true, x23, [](D, V x) { return one(F::dropout(x[0])); }, false, false},
      {"lstm", true, {{s23}, {Shape{2, 12}}},
       [](D, V x) {
         auto [c, h] = F::lstm(x[0], x[1]);
         return std::vector<Variable>{c, h};
       }},
      {"mean_squared_error", true, {{s23}, {s23, 0, 1}}, [](D, V x) { return one(F::mean_squared_error(x[0], x[1])); }},
      {"softmax_cross_entropy", true, x23, [](D d, V x) { return one(F::softmax_cross_entropy(x[0], i32(d, {0, 2}))); }},
      {"sigmoid_cross_entropy", true, {{Shape{1, 2}}},
       [](D d, V x) {
         return one(F::sigmoid_cross_entropy(x[0], Tensor::from_vector(std::vector<int32_t>{0, 1}, Shape{1, 2}, d)));
       }},
      {"hinge", true, x23, [](D d, V x) { return one(F::hinge(x[0], i32(d, {0, 2}))); }},
      {"contrastive", true, {{s23}, {s23, 0, 1}}, [](D d, V x) { return one(F::contrastive(x[0], x[1], i32(d, {0, 1}))); }},
      {"triplet", true, {{s23}, {s23, 0, 1}, {s23, -2, 0}}, [](D, V x) { return one(F::triplet(x[0], x[1], x[2])); }},
      {"margin_ranking", true, {{Shape{3}}, {Shape{3}, 0, 1}},
       [](D d, V x) { return one(F::margin_ranking(x[0], x[1], Tensor::full(Shape{3}, 1.0, float32, d))); }},
      {"accuracy", false, x23, [](D d, V x) { return one(F::accuracy(x[0], i32(d, {0, 2}))); }},
      {"argmax", false, x23, [](D, V x) { return one(F::argmax(x[0], 1)); }},
  };
  return fns;
}

}  // namespace catena
