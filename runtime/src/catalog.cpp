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
  std::vector<float> x(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(lo + (hi - lo) * double((i * 7) % (x.size() + 1)) / double(x.size() + 1));
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

const std::vector<FunctionProbe>& functions_catalog() {
  using D = Device&;
  static const std::vector<FunctionProbe> fns = {
      {"add", true, [](D d) { return one(v32(d, Shape{2, 3}) + v32(d, Shape{3})); }},
      {"sub", true, [](D d) { return one(v32(d, Shape{2, 3}) - v32(d, Shape{2, 3})); }},
      {"mul", true, [](D d) { return one(v32(d, Shape{2, 3}) * v32(d, Shape{2, 3})); }},
      {"div", true, [](D d) { return one(v32(d, Shape{2, 3}) / v32(d, Shape{2, 3}, 1, 2)); }},
      {"neg", true, [](D d) { return one(-v32(d, Shape{2, 3})); }},
      {"pow", true, [](D d) { return one(F::pow(v32(d, Shape{2, 3}, 0.5, 1), 2.0)); }},
      {"maximum", true, [](D d) { return one(F::maximum(v32(d, Shape{2, 3}), v32(d, Shape{2, 3}, 0, 1))); }},
      {"minimum", true, [](D d) { return one(F::minimum(v32(d, Shape{2, 3}), v32(d, Shape{2, 3}, 0, 1))); }},
      {"exp", true, [](D d) { return one(F::exp(v32(d, Shape{2, 3}))); }},
      {"log", true, [](D d) { return one(F::log(v32(d, Shape{2, 3}, 1, 2))); }},
      {"sqrt", true, [](D d) { return one(F::sqrt(v32(d, Shape{2, 3}, 1, 2))); }},
      {"square", true, [](D d) { return one(F::square(v32(d, Shape{2, 3}))); }},
      {"absolute", true, [](D d) { return one(F::absolute(v32(d, Shape{2, 3}))); }},
      {"sin", true, [](D d) { return one(F::sin(v32(d, Shape{2, 3}))); }},
      {"cos", true, [](D d) { return one(F::cos(v32(d, Shape{2, 3}))); }},
      {"clip", true, [](D d) { return one(F::clip(v32(d, Shape{2, 3}), -0.5, 0.5)); }},
      {"identity", true, [](D d) { return one(F::identity(v32(d, Shape{2, 3}))); }},
      {"relu", true, [](D d) { return one(F::relu(v32(d, Shape{2, 3}))); }},
      {"leaky_relu", true, [](D d) { return one(F::leaky_relu(v32(d, Shape{2, 3}))); }},
      {"sigmoid", true, [](D d) { return one(F::sigmoid(v32(d, Shape{2, 3}))); }},
      {"tanh", true, [](D d) { return one(F::tanh(v32(d, Shape{2, 3}))); }},
      {"softplus", true, [](D d) { return one(F::softplus(v32(d, Shape{2, 3}))); }},
      {"elu", true, [](D d) { return one(F::elu(v32(d, Shape{2, 3}))); }},
      {"selu", true, [](D d) { return one(F::selu(v32(d, Shape{2, 3}))); }},
      {"softmax", true, [](D d) { return one(F::softmax(v32(d, Shape{2, 3}))); }},
      {"log_softmax", true, [](D d) { return one(F::log_softmax(v32(d, Shape{2, 3}))); }},
      {"reshape", true, [](D d) { return one(F::reshape(v32(d, Shape{2, 3}), Shape{3, 2})); }},
      {"broadcast", true, [](D d) { return F::broadcast({v32(d, Shape{2, 1}), v32(d, Shape{3})}); }},
      {"broadcast_to", true, [](D d) { return one(F::broadcast_to(v32(d, Shape{3}), Shape{2, 3})); }},
      {"sum_to", true, [](D d) { return one(F::sum_to(v32(d, Shape{2, 3}), Shape{1, 3})); }},
      {"transpose", true, [](D d) { return one(F::transpose(v32(d, Shape{2, 3}))); }},
      {"expand_dims", true, [](D d) { return one(F::expand_dims(v32(d, Shape{2, 3}), 0)); }},
      {"squeeze", true, [](D d) { return one(F::squeeze(v32(d, Shape{2, 1, 3}))); }},
      {"flatten", true, [](D d) { return one(F::flatten(v32(d, Shape{2, 3}))); }},
      {"cast", true, [](D d) { return one(F::cast(v32(d, Shape{2, 3}), float64)); }},
      {"where", true, [](D d) {
         return one(F::where(Tensor::zeros(Shape{2, 3}, bool_, d), v32(d, Shape{2, 3}), v32(d, Shape{2, 3})));
       }},
      {"get_item", true, [](D d) { return one(F::get_item(v32(d, Shape{3, 4}), {F::Index::range(1, {}), 2})); }},
      {"concat", true, [](D d) { return one(F::concat({v32(d, Shape{2, 3}), v32(d, Shape{2, 2})}, 1)); }},
      {"stack", true, [](D d) { return one(F::stack({v32(d, Shape{2, 3}), v32(d, Shape{2, 3})})); }},
      {"split_axis", true, [](D d) { return F::split_axis(v32(d, Shape{2, 4}), 2, 1); }},
      {"embed_id", true, [](D d) { return one(F::embed_id(i32(d, {0, 2}), v32(d, Shape{3, 4}))); }},
      {"select_item", true, [](D d) { return one(F::select_item(v32(d, Shape{2, 3}), i32(d, {0, 2}))); }},
      {"sum", true, [](D d) { return one(F::sum(v32(d, Shape{2, 3}), {1})); }},
      {"mean", true, [](D d) { return one(F::mean(v32(d, Shape{2, 3}))); }},
      {"max", true, [](D d) { return one(F::max(v32(d, Shape{2, 3}), {1})); }},
      {"min", true, [](D d) { return one(F::min(v32(d, Shape{2, 3}), {1})); }},
      {"logsumexp", true, [](D d) { return one(F::logsumexp(v32(d, Shape{2, 3}), {1})); }},
      {"linear", true, [](D d) { return one(F::linear(v32(d, Shape{2, 3}), v32(d, Shape{4, 3}), v32(d, Shape{4}))); }},
      {"matmul", true, [](D d) { return one(F::matmul(v32(d, Shape{2, 3}), v32(d, Shape{3, 4}))); }},
      {"convolution_2d", true, [](D d) {
         return one(F::convolution_2d(v32(d, Shape{1, 2, 4, 4}), v32(d, Shape{3, 2, 3, 3}), v32(d, Shape{3}), 1, 1));
       }},
      {"deconvolution_2d", true, [](D d) {
         return one(F::deconvolution_2d(v32(d, Shape{1, 3, 3, 3}), v32(d, Shape{3, 2, 3, 3}), Variable(), 2, 1));
       }},
      {"max_pooling_2d", true, [](D d) { return one(F::max_pooling_2d(v32(d, Shape{1, 2, 4, 4}), 2)); }},
      {"average_pooling_2d", true, [](D d) { return one(F::average_pooling_2d(v32(d, Shape{1, 2, 4, 4}), 2)); }},
      {"batch_normalization", true, [](D d) {
         return one(F::batch_normalization(v32(d, Shape{4, 3}), v32(d, Shape{3}, 1, 2), v32(d, Shape{3})));
       }},
      {"fixed_batch_normalization", true, [](D d) {
         return one(F::fixed_batch_normalization(v32(d, Shape{4, 3}), v32(d, Shape{3}, 1, 2), v32(d, Shape{3}),
                                                 v32(d, Shape{3}), v32(d, Shape{3}, 1, 2)));
       }},
      {"dropout", true, [](D d) { return one(F::dropout(v32(d, Shape{2, 3}))); }},
      {"lstm", true, [](D d) {
         auto [c, h] = F::lstm(v32(d, Shape{2, 3}), v32(d, Shape{2, 12}));
         return std::vector<Variable>{c, h};
       }},
      {"mean_squared_error", true, [](D d) { return one(F::mean_squared_error(v32(d, Shape{2, 3}), v32(d, Shape{2, 3}, 0, 1))); }},
      {"softmax_cross_entropy", true, [](D d) { return one(F::softmax_cross_entropy(v32(d, Shape{2, 3}), i32(d, {0, 2}))); }},
      {"sigmoid_cross_entropy", true, [](D d) {
         return one(F::sigmoid_cross_entropy(v32(d, Shape{1, 2}), Tensor::from_vector(std::vector<int32_t>{0, 1}, Shape{1, 2}, d)));
       }},
      {"hinge", true, [](D d) { return one(F::hinge(v32(d, Shape{2, 3}), i32(d, {0, 2}))); }},
      {"contrastive", true, [](D d) { return one(F::contrastive(v32(d, Shape{2, 3}), v32(d, Shape{2, 3}, 0, 1), i32(d, {0, 1}))); }},
      {"triplet", true, [](D d) {
         return one(F::triplet(v32(d, Shape{2, 3}), v32(d, Shape{2, 3}, 0, 1), v32(d, Shape{2, 3}, -2, 0)));
       }},
      {"margin_ranking", true, [](D d) {
         return one(F::margin_ranking(v32(d, Shape{3}), v32(d, Shape{3}, 0, 1), Tensor::full(Shape{3}, 1.0, float32, d)));
       }},
      {"accuracy", false, [](D d) { return one(F::accuracy(v32(d, Shape{2, 3}), i32(d, {0, 2}))); }},
      {"argmax", false, [](D d) { return one(F::argmax(v32(d, Shape{2, 3}), 1)); }},
  };
  return fns;
}

}  // namespace catena
