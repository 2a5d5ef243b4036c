// Indexing: get_item (basic slicing plus one index array), concat, stack, split_axis,
// embed_id, select_item.
#include "common.hpp"

#include <algorithm>

namespace catena {
namespace F {

using detail::apply1;
using detail::constant;

Index Index::range(std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) {
  Index i;
  i.kind = slice;
  i.start = start;
  i.stop = stop;
  i.step = step;
  return i;
}

Index Index::newaxis() {
  Index i;
  i.kind = new_axis;
  return i;
}

namespace {

// The view a basic index expression selects, and where an index array (if any) applies.
struct Selection {
  Shape shape;
  int64_t strides[kMaxDims];
  int64_t offset;
  int array_axis = -1;  // in the view's axes
  Tensor indices;
};

Selection select(const Tensor& x, const std::vector<Index>& index) {
  int consumed = 0;
  for (const Index& ix : index)
    if (ix.kind != Index::new_axis) ++consumed;
  if (consumed > x.ndim())
    throw Error(CT_INVALID_ARGUMENT, "get_item: " + std::to_string(consumed) + " indices for an array of " +
                                         std::to_string(x.ndim()) + " dimensions " + x.shape().str());
  Tensor v = x;
  int axis = 0;  // current axis of v
  Selection sel;
  for (const Index& ix : index) {
    switch (ix.kind) {
      case Index::integer: {
        int64_t n = v.shape()[axis];
        int64_t i = ix.value < 0 ? ix.value + n : ix.value;
        if (i < 0 || i >= n)
          throw Error(CT_OUT_OF_RANGE, "get_item: index " + std::to_string(ix.value) + " is out of range for axis " +
                                           std::to_string(axis) + " of extent " + std::to_string(n));
        v = v.slice(axis, i, i + 1).squeeze(axis);
        break;
      }
      case Index::slice: {
        int64_t n = v.shape()[axis];
        if (ix.step == 0) throw Error(CT_INVALID_ARGUMENT, "get_item: a slice step must not be 0");
        int64_t start = ix.start ? *ix.start : (ix.step > 0 ? 0 : n - 1);
        int64_t stop = ix.stop ? *ix.stop : (ix.step > 0 ? n : -n - 1);
        v = v.slice(axis, start, stop, ix.step);
        ++axis;
        break;
      }
      case Index::new_axis:
        v = v.expand_dims(axis);
        ++axis;
        break;
      case Index::array:
        if (sel.array_axis >= 0)
          throw Error(CT_UNIMPLEMENTED, "get_item: at most one index array is supported; index step by step instead");
        if (ix.indices.dtype() != int32 && ix.indices.dtype() != int64)
          throw Error(CT_INVALID_ARGUMENT, "get_item: an index array must be int32 or int64, got " +
                                               ix.indices.dtype().name());
        sel.array_axis = axis;
        sel.indices = ix.indices;
        ++axis;
        break;
    }
  }
  sel.shape = v.shape();
  std::copy(v.strides(), v.strides() + v.ndim(), sel.strides);
  sel.offset = v.offset();
  return sel;
}

Tensor view_of(const Tensor& t, const Selection& s) { return t.view(s.shape, s.strides, s.offset); }

class GetItemGrad;

class GetItem : public FunctionNode {
 public:
  explicit GetItem(std::vector<Index> index) : index_(std::move(index)) {}
  std::string label() const override { return "get_item"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    sel_ = select(x[0], index_);
    Tensor v = view_of(x[0], sel_);
    if (sel_.array_axis >= 0) v = ops::take(v, sel_.indices.to(v.device()), sel_.array_axis);
    return {v};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override;

 private:
  std::vector<Index> index_;
  Selection sel_;
};

// The adjoint of get_item: gy scattered into zeros of x's shape.
class GetItemGrad : public FunctionNode {
 public:
  GetItemGrad(std::vector<Index> index, Shape in_shape) : index_(std::move(index)), in_shape_(in_shape) {}
  std::string label() const override { return "get_item_grad"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& gy) override {
    Tensor gx = Tensor::zeros(in_shape_, gy[0].dtype(), gy[0].device());
    Selection sel = select(gx, index_);
    Tensor v = view_of(gx, sel);
    if (sel.array_axis >= 0) {
      Tensor acc = ops::take_add(v.contiguous(), sel.indices.to(v.device()), gy[0], sel.array_axis);
      ops::copy(v, acc);
    } else {
      ops::copy(v, gy[0]);
    }
    return {gx};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& ggx) override {
    return {get_item(ggx[0], index_)};
  }

 private:
  std::vector<Index> index_;
  Shape in_shape_;
};

std::vector<Variable> GetItem::backward(const std::vector<int>&, const std::vector<Variable>& gy) {
  return {apply1<GetItemGrad>({gy[0]}, index_, input_shape(0))};
}


class Concat : public FunctionNode {
 public:
  explicit Concat(int axis) : axis_(axis) {}
  std::string label() const override { return "concat"; }
  void check_type_forward(const std::vector<Tensor>& xs) override {
    if (xs.empty()) throw Error(CT_INVALID_ARGUMENT, "concat: no arrays");
    for (size_t i = 1; i < xs.size(); ++i) {
      bool ok = xs[i].ndim() == xs[0].ndim() && xs[i].dtype() == xs[0].dtype();
      for (int d = 0; ok && d < xs[0].ndim(); ++d) ok = d == axis_ || xs[i].shape()[d] == xs[0].shape()[d];
      if (!ok)
        throw Error(CT_INVALID_ARGUMENT, "concat: array " + std::to_string(i) + " " + xs[i].dtype().name() +
                                             xs[i].shape().str() + " does not match array 0 " + xs[0].dtype().name() +
                                             xs[0].shape().str() + " outside axis " + std::to_string(axis_));
    }
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& xs) override {
    Shape s = xs[0].shape();
    s[axis_] = 0;
    for (const Tensor& x : xs) s[axis_] += x.shape()[axis_];
    Tensor y = Tensor::empty(s, xs[0].dtype(), xs[0].device());
    int64_t at = 0;
    for (const Tensor& x : xs) {
      ops::copy(y.slice(axis_, at, at + x.shape()[axis_]), x);
      at += x.shape()[axis_];
    }
    return {y};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> gx(inputs().size());
    std::vector<int64_t> starts;
    int64_t at = 0;
    for (size_t i = 0; i < inputs().size(); ++i) starts.push_back(at), at += input_shape(static_cast<int>(i))[axis_];
    for (int i : idx) {
      std::vector<Index> ix(static_cast<size_t>(axis_), Index::all());
      ix.push_back(Index::range(starts[i], starts[i] + input_shape(i)[axis_]));
      gx[i] = get_item(gy[0], ix);
    }
    return gx;
  }

 private:
  int axis_;
};

}  // namespace

Variable get_item(const Variable& x, const std::vector<Index>& index) { return apply1<GetItem>({x}, index); }

Variable concat(const std::vector<Variable>& xs, int axis) {
  if (xs.empty()) throw Error(CT_INVALID_ARGUMENT, "concat: no arrays");
  return apply1<Concat>(xs, normalize_axis("concat", axis, xs[0].ndim()));
}

Variable stack(const std::vector<Variable>& xs, int axis) {
  if (xs.empty()) throw Error(CT_INVALID_ARGUMENT, "stack: no arrays");
  std::vector<Variable> e;
  for (const Variable& x : xs) e.push_back(expand_dims(x, axis));
  return concat(e, axis < 0 ? axis + xs[0].ndim() + 1 : axis);
}

std::vector<Variable> split_axis(const Variable& x, const std::vector<int64_t>& indices, int axis) {
  int a = normalize_axis("split_axis", axis, x.ndim());
  std::vector<Variable> out;
  int64_t prev = 0, n = x.shape()[a];
  std::vector<int64_t> bounds(indices);
  bounds.push_back(n);
  for (int64_t b : bounds) {
    int64_t stop = std::min(std::max(b, prev), n);
    std::vector<Index> ix(static_cast<size_t>(a), Index::all());
    ix.push_back(Index::range(prev, stop));
    out.push_back(get_item(x, ix));
    prev = stop;
  }
  return out;
}

std::vector<Variable> split_axis(const Variable& x, int64_t sections, int axis) {
  int a = normalize_axis("split_axis", axis, x.ndim());
  if (sections <= 0 || x.shape()[a] % sections != 0)
    throw Error(CT_INVALID_ARGUMENT, "split_axis: axis " + std::to_string(a) + " of " + x.shape().str() +
                                         " does not split into " + std::to_string(sections) + " equal sections");
  std::vector<int64_t> idx;
  int64_t step = x.shape()[a] / sections;
  for (int64_t i = 1; i < sections; ++i) idx.push_back(i * step);
  return split_axis(x, idx, a);
}

Variable embed_id(const Tensor& x, const Variable& W, std::optional<int64_t> ignore_label) {
  if (!x.defined() || (x.dtype() != int32 && x.dtype() != int64))
    throw Error(CT_INVALID_ARGUMENT, "embed_id: x must be an int32 or int64 array of ids");
  if (W.ndim() != 2) throw Error(CT_INVALID_ARGUMENT, "embed_id: W must be (n_vocab, n_units), got " + W.shape().str());
  if (!ignore_label) return get_item(W, {Index(x)});
  Tensor ign = Tensor::full(Shape{}, double(*ignore_label), x.dtype(), x.device());
  Tensor keep = ops::compare("core.not_equal", x, ign);
  Tensor safe = ops::where(keep, x, Tensor::zeros(Shape{}, x.dtype(), x.device()));
  Variable rows = get_item(W, {Index(safe)});
  Tensor mask = keep.reshape([&] {
    Shape s = x.shape();
    s.push_back(1);
    return s;
  }());
  Variable zero = constant(Tensor::zeros(Shape{}, W.dtype(), W.device()));
  return where(mask, rows, zero);
}

Variable select_item(const Variable& x, const Tensor& t) {
  if (x.ndim() != 2 || t.ndim() != 1 || t.shape()[0] != x.shape()[0])
    throw Error(CT_INVALID_ARGUMENT, "select_item: x must be (N, C) and t (N,), got " + x.shape().str() + " and " +
                                         t.shape().str());
  Tensor classes = Tensor::from_vector(
      [&] {
        std::vector<int64_t> v(static_cast<size_t>(x.shape()[1]));
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i);
        return v;
      }(),
      Shape{1, x.shape()[1]}, x.device());
  Tensor onehot = ops::equal(t.astype(int64).reshape(Shape{t.shape()[0], 1}), classes);
  Variable zero = constant(Tensor::zeros(Shape{}, x.dtype(), x.device()));
  return sum(where(onehot, x, zero), {1});
}

}  // namespace F
}  // namespace catena
