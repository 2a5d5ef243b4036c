// Which ops the CUDA backend runs, and running them: fill, copy, the elementwise unary and
// binary ops, comparisons, where, the reductions, random numbers, take and take_add and the
// fused optimizer updates on the backend's kernels, GEMM on cuBLAS. supports_op answers from dtypes, ranks and layout classes only (as the ABI
// requires); every layout of an accepted op is handled, operands cuBLAS cannot read being
// copied into dense scratch first.
#include "backend.hpp"
#include "blas.hpp"
#include "kernels.hpp"
#include "plan.hpp"

#include <catena/ct_sdk.h>

#include <cstring>
#include <string>

namespace catena_cuda {

namespace {

struct UnaryName {
  const char* name;
  Unary op;
  bool ints;  // defined on integers too
};
const UnaryName kUnary[] = {
    {"core.neg", Unary::neg, true},    {"core.abs", Unary::abs, true},   {"core.square", Unary::square, true},
    {"core.relu", Unary::relu, true},  {"core.sqrt", Unary::sqrt, false}, {"core.exp", Unary::exp, false},
    {"core.log", Unary::log, false},   {"core.sin", Unary::sin, false},   {"core.cos", Unary::cos, false},
    {"core.tanh", Unary::tanh, false}, {"core.sigmoid", Unary::sigmoid, false},
};
struct BinaryName {
  const char* name;
  Binary op;
  bool ints;
};
const BinaryName kBinary[] = {
    {"core.add", Binary::add, true},         {"core.sub", Binary::sub, true},
    {"core.mul", Binary::mul, true},         {"core.div", Binary::div, false},
    {"core.maximum", Binary::maximum, true}, {"core.minimum", Binary::minimum, true},
    {"core.pow", Binary::pow, false},        {"core.relu_grad", Binary::relu_grad, false},
};

struct CompareName {
  const char* name;
  Compare op;
};
const CompareName kCompare[] = {
    {"core.equal", Compare::equal}, {"core.not_equal", Compare::not_equal},        {"core.less", Compare::less},
    {"core.less_equal", Compare::less_equal}, {"core.greater", Compare::greater}, {"core.greater_equal", Compare::greater_equal},
};
struct ReduceName {
  const char* name;
  Reduce op;
  bool ints;
};
const ReduceName kReduce[] = {
    {"core.sum", Reduce::sum, true}, {"core.mean", Reduce::mean, false}, {"core.max", Reduce::max, true},
    {"core.min", Reduce::min, true}, {"core.argmax", Reduce::argmax, true},
};

const CompareName* compare_named(const char* n) {
  for (const auto& c : kCompare)
    if (std::strcmp(c.name, n) == 0) return &c;
  return nullptr;
}
const ReduceName* reduce_named(const char* n) {
  for (const auto& r : kReduce)
    if (std::strcmp(r.name, n) == 0) return &r;
  return nullptr;
}

const UnaryName* unary_named(const char* n) {
  for (const auto& u : kUnary)
    if (std::strcmp(u.name, n) == 0) return &u;
  return nullptr;
}
const BinaryName* binary_named(const char* n) {
  for (const auto& b : kBinary)
    if (std::strcmp(b.name, n) == 0) return &b;
  return nullptr;
}

bool is_int(Ty t) { return t == Ty::i8 || t == Ty::i32 || t == Ty::i64 || t == Ty::u8; }

const char* check_elementwise(const ct_op* op, int inputs, bool ints) {
  if (op->num_inputs != inputs || op->num_outputs != 1) return "wrong number of operands";
  const ct_tensor* y = op->outputs[0];
  const Ty t = ty_of(y->dl.dtype);
  if (!(is_float(t) || (ints && is_int(t)))) return ints ? "dtype must be float or int" : "dtype must be float";
  for (int i = 0; i < inputs; ++i) {
    if (ty_of(op->inputs[i]->dl.dtype) != t) return "operands must have one dtype";
    if (!ct_sdk_same_shape(op->inputs[i], y)) return "operands must have one shape";
  }
  return y->dl.ndim > 16 ? "rank above 16" : nullptr;
}

const char* check_compare(const ct_op* op) {
  if (op->num_inputs != 2 || op->num_outputs != 1) return "takes a and b, gives y";
  const Ty t = ty_of(op->inputs[0]->dl.dtype);
  if (t == Ty::unknown || ty_of(op->inputs[1]->dl.dtype) != t) return "a and b must have one known dtype";
  if (ty_of(op->outputs[0]->dl.dtype) != Ty::boolean) return "y must be bool";
  for (int i = 0; i < 2; ++i)
    if (!ct_sdk_same_shape(op->inputs[i], op->outputs[0])) return "operands must have one shape";
  return nullptr;
}

const char* check_where(const ct_op* op) {
  if (op->num_inputs != 3 || op->num_outputs != 1) return "takes cond, a and b, gives y";
  if (ty_of(op->inputs[0]->dl.dtype) != Ty::boolean) return "cond must be bool";
  const Ty t = ty_of(op->inputs[1]->dl.dtype);
  if (t == Ty::unknown || ty_of(op->inputs[2]->dl.dtype) != t || ty_of(op->outputs[0]->dl.dtype) != t)
    return "a, b and y must have one known dtype";
  for (int i = 0; i < 3; ++i)
    if (!ct_sdk_same_shape(op->inputs[i], op->outputs[0])) return "operands must have one shape";
  return nullptr;
}

// Which axes a reduction folds (argmax: `axis`; the others: `axes`, absent meaning none).
bool reduced_axes(const ct_op* op, bool* reduced) {
  const int rank = op->inputs[0]->dl.ndim;
  for (int d = 0; d < rank; ++d) reduced[d] = false;
  int64_t axes[kMaxDims];
  int32_t n = 0;
  if (std::strcmp(op->name, "core.argmax") == 0) {
    if (!ct_sdk_has_int(op, "axis", &axes[0])) return false;
    n = 1;
  } else if (ct_sdk_attr(op, "axes")) {
    n = ct_sdk_ints(op, "axes", axes, kMaxDims);
    if (n < 0 || n > rank) return false;
  }
  for (int32_t i = 0; i < n; ++i) {
    if (axes[i] < 0 || axes[i] >= rank || reduced[axes[i]]) return false;
    reduced[axes[i]] = true;
  }
  return true;
}

const char* check_reduce(const ct_op* op, bool ints) {
  if (op->num_inputs != 1 || op->num_outputs != 1) return "takes x, gives y";
  const ct_tensor *x = op->inputs[0], *y = op->outputs[0];
  const Ty t = ty_of(x->dl.dtype);
  if (!(is_float(t) || (ints && is_int(t)))) return ints ? "x must be float or int" : "x must be float";
  const bool argmax = std::strcmp(op->name, "core.argmax") == 0;
  if (argmax ? ty_of(y->dl.dtype) != Ty::i64 : ty_of(y->dl.dtype) != t)
    return argmax ? "y must be int64" : "y must have x's dtype";
  if (x->dl.ndim != y->dl.ndim || x->dl.ndim > kMaxDims) return "x and y of one rank, at most 8";
  if (argmax ? !ct_sdk_attr(op, "axis") : false) return "axis is required";
  return nullptr;
}

struct UpdateName {
  const char* name;
  Update rule;
  int state;  // state arrays after the parameter (adam: 2, or 3 with amsgrad)
};
const UpdateName kUpdate[] = {
    {"optim.sgd", Update::sgd, 0},         {"optim.momentum_sgd", Update::momentum_sgd, 1},
    {"optim.nesterov_ag", Update::nesterov_ag, 1}, {"optim.adagrad", Update::adagrad, 1},
    {"optim.rmsprop", Update::rmsprop, 1}, {"optim.adadelta", Update::adadelta, 2},
    {"optim.adam", Update::adam, 2},
};
const UpdateName* update_named(const char* n) {
  for (const auto& u : kUpdate)
    if (std::strcmp(u.name, n) == 0) return &u;
  return nullptr;
}
int state_count(const ct_op* op, const UpdateName& u) {
  return u.rule == Update::adam && ct_sdk_int(op, "amsgrad", 0) ? 3 : u.state;
}

const char* check_update(const ct_op* op, const UpdateName& u) {
  if (op->num_inputs != 1) return "takes one input (the gradient)";
  if (op->num_outputs != 1 + state_count(op, u)) return "wrong number of outputs (the parameter, then its state)";
  const ct_tensor* g = op->inputs[0];
  const Ty t = ty_of(g->dl.dtype);
  if (t != Ty::f32 && t != Ty::f64) return "float32 and float64 only";
  if (ct_sdk_layout_of(g) != CT_SDK_DENSE) return "needs a dense gradient";
  for (int i = 0; i < op->num_outputs; ++i) {
    const ct_tensor* o = op->outputs[i];
    if (ty_of(o->dl.dtype) != t || !ct_sdk_same_shape(o, g)) return "parameter and state must match the gradient";
    if (ct_sdk_layout_of(o) != CT_SDK_DENSE) return "needs dense parameter and state";
  }
  return nullptr;
}

// The hyperparameters with the cpu backend's defaults, converted to T as it does.
template <class T>
Hyper<T> hyper(const ct_op* op, Update rule) {
  const bool adagrad_like = rule == Update::adagrad || rule == Update::adam;
  Hyper<T> h{};
  h.lr = T(ct_sdk_float(op, "lr", adagrad_like ? 0.001 : 0.01));
  h.mu = T(ct_sdk_float(op, "momentum", 0.9));
  h.eps = T(ct_sdk_float(op, "eps", rule == Update::adadelta ? 1e-6 : 1e-8));
  h.alpha = T(ct_sdk_float(op, "alpha", 0.99));
  h.rho = T(ct_sdk_float(op, "rho", 0.95));
  h.b1 = T(1) - T(ct_sdk_float(op, "beta1", 0.9));
  h.b2 = T(1) - T(ct_sdk_float(op, "beta2", 0.999));
  h.eta = T(ct_sdk_float(op, "eta", 1.0));
  h.wd = T(ct_sdk_float(op, "weight_decay_rate", 0.0));
  h.inside_sqrt = ct_sdk_int(op, "eps_inside_sqrt", 0) != 0;
  h.amsgrad = ct_sdk_int(op, "amsgrad", 0) != 0;
  return h;
}

template <class T>
cudaError_t run_update(const ct_op* op, Update rule, cudaStream_t stream) {
  auto at = [&](int i) { return i < op->num_outputs ? reinterpret_cast<T*>(element0(op->outputs[i])) : nullptr; };
  return launch_update<T>(rule, hyper<T>(op, rule), ct_sdk_numel(op->inputs[0]),
                          reinterpret_cast<const T*>(element0(op->inputs[0])), at(0), at(1), at(2), at(3), stream);
}

const char* check_take(const ct_op* op, bool add) {
  if (op->num_inputs != (add ? 3 : 2) || op->num_outputs != 1)
    return add ? "takes base, indices and updates" : "takes x and indices";
  const ct_tensor *x = op->inputs[0], *y = op->outputs[0];
  const Ty t = ty_of(x->dl.dtype);
  if (t == Ty::unknown || (add && t == Ty::boolean)) return "unsupported dtype";
  if (!ct_sdk_is_index(op->inputs[1]->dl.dtype)) return "indices must be int32 or int64";
  if (ty_of(y->dl.dtype) != t || (add && ty_of(op->inputs[2]->dl.dtype) != t)) return "dtypes must match";
  if (x->dl.ndim > kMaxDims || op->inputs[1]->dl.ndim > kMaxDims || y->dl.ndim > kMaxDims) return "rank above 8";
  if (add && !ct_sdk_same_shape(x, y)) return "y must have base's shape";
  if (add && op->inputs[2]->dl.ndim > kMaxDims) return "rank above 8";
  return ct_sdk_take_shapes(x, op->inputs[1], add ? op->inputs[2] : y, ct_sdk_int(op, "axis", 0));
}

View view_of(const ct_tensor* t) {
  View v;
  v.data = element0(t), v.ndim = t->dl.ndim;
  for (int d = 0; d < t->dl.ndim; ++d) v.shape[d] = t->dl.shape[d], v.strides[d] = t->dl.strides[d];
  return v;
}

ct_status* take(ct_stream* s, const ct_op* op, bool add) {
  if (!s->flag) {
    if (cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&s->flag), sizeof(int))) return cuda_error(e, op->name);
    if (cudaError_t e = cudaMemsetAsync(s->flag, 0, sizeof(int), s->stream)) return cuda_error(e, op->name);
  }
  s->flag_op = op->name;
  const ct_tensor *x = op->inputs[0], *idx = op->inputs[1], *y = op->outputs[0];
  TakeSpace t;
  t.x = view_of(x), t.idx = view_of(idx), t.y = view_of(y);
  t.axis = int(ct_sdk_int(op, "axis", 0));
  t.n = x->dl.shape[t.axis], t.nidx = ct_sdk_numel(idx);
  t.idx64 = idx->dl.dtype.bits == 64;
  t.ty = ty_of(x->dl.dtype);
  t.flag = s->flag;
  cudaError_t e = cudaSuccess;
  if (add) {
    // y = base, then the updates added in index order.
    t.u = view_of(op->inputs[2]);
    const ct_tensor* both[2] = {x, y};
    Space space;
    Operand ops[2];
    plan_space(both, 2, space, ops);
    e = launch_copy(space, ops[0], ops[1], s->stream);
    if (e == cudaSuccess) e = launch_take_add(t, s->stream);
  } else {
    e = launch_take(t, s->stream);
  }
  return e == cudaSuccess ? nullptr : cuda_error(e, op->name);
}

const char* check_gemm(const ct_op* op) {
  if (op->num_inputs < 2 || op->num_inputs > 3 || op->num_outputs != 1) return "takes A, B and optionally C";
  const ct_tensor* y = op->outputs[0];
  const Ty t = ty_of(y->dl.dtype);
  if (!is_float(t)) return "integer GEMM is not implemented on cuda";
  const int rank = y->dl.ndim;
  if (rank != 2 && rank != 3) return "rank 2 or 3 (batched)";
  for (int i = 0; i < op->num_inputs; ++i)
    if (ty_of(op->inputs[i]->dl.dtype) != t || op->inputs[i]->dl.ndim != rank) return "operands of one dtype and rank";
  return nullptr;
}

// Scratch device memory for one op, taken from the allocator for `s` and given back
// stream-ordered when the op has been enqueued.
struct Scratch {
  Scratch(Context* c, ct_stream* s) : c(c), s(s) {}
  ~Scratch() {
    for (Block* b : blocks) c->devices[size_t(s->device)]->allocator->free(b, s);
  }
  char* get(uint64_t bytes) {
    Block* b = c->devices[size_t(s->device)]->allocator->allocate(bytes, s);
    if (!b) return nullptr;
    blocks.push_back(b);
    return static_cast<char*>(b->ptr);
  }
  Context* c;
  ct_stream* s;
  std::vector<Block*> blocks;
};

// A dense row-major copy of tensor `t` (its shape, its dtype) in scratch, by the copy kernel.
ct_status* dense_copy(const ct_tensor* t, Scratch& scratch, char** out) {
  const ct_tensor* one[1] = {t};
  Space space;
  Operand x;
  if (!plan_space(one, 1, space, &x)) return error(CT_UNIMPLEMENTED, "cuda: rank too high");
  const int64_t w = size_of_ty(x.ty);
  char* p = scratch.get(uint64_t(space.count * w));
  if (!p) return error(CT_RESOURCE_EXHAUSTED, "cuda: out of memory for a GEMM operand's dense copy");
  Operand y;
  y.data = p, y.ty = x.ty;
  int64_t stride = 1;
  for (int d = space.ndim - 1; d >= 0; --d) y.strides[d] = stride, stride *= space.shape[d];
  if (cudaError_t e = launch_copy(space, x, y, scratch.s->stream)) return cuda_error(e, "core.gemm's operand copy");
  *out = p;
  return nullptr;
}

cudaDataType data_type(Ty t) {
  switch (t) {
    case Ty::f16: return CUDA_R_16F;
    case Ty::bf16: return CUDA_R_16BF;
    case Ty::f64: return CUDA_R_64F;
    default: return CUDA_R_32F;
  }
}

// One GEMM operand as cuBLAS takes it: a pointer, a leading dimension, whether it is read
// transposed, the batch stride.
struct Mat {
  const char* p;
  int64_t ld, batch_stride;
  bool col_major;
};

ct_status* as_matrix(const ct_tensor* t, Scratch& scratch, Mat* m) {
  const int r = t->dl.ndim;
  const int64_t rows = t->dl.shape[r - 2], cols = t->dl.shape[r - 1];
  const MatrixLayout l = matrix_layout(rows, cols, t->dl.strides[r - 2], t->dl.strides[r - 1]);
  const bool batch_ok = r == 2 || t->dl.strides[0] >= 0;
  if (l.usable && batch_ok) {
    *m = {element0(t), l.ld, r == 3 ? t->dl.strides[0] : 0, l.col_major};
    return nullptr;
  }
  char* p = nullptr;
  if (ct_status* st = dense_copy(t, scratch, &p)) return st;
  *m = {p, std::max<int64_t>(1, cols), rows * cols, false};
  return nullptr;
}

ct_status* gemm(Context* c, ct_stream* s, const ct_op* op) {
  const ct_tensor *A = op->inputs[0], *B = op->inputs[1], *C = op->num_inputs > 2 ? op->inputs[2] : nullptr;
  const ct_tensor* Y = op->outputs[0];
  const int r = Y->dl.ndim;
  const bool ta = ct_sdk_int(op, "trans_a", 0) != 0, tb = ct_sdk_int(op, "trans_b", 0) != 0;
  const double alpha = ct_sdk_float(op, "alpha", 1), beta = C ? ct_sdk_float(op, "beta", 0) : 0;
  const int64_t batch = r == 3 ? Y->dl.shape[0] : 1, M = Y->dl.shape[r - 2], N = Y->dl.shape[r - 1];
  const int64_t K = ta ? A->dl.shape[r - 2] : A->dl.shape[r - 1];
  if (batch == 0 || M == 0 || N == 0) return nullptr;
  const Ty t = ty_of(Y->dl.dtype);
  Scratch scratch(c, s);
  Mat a, b;
  if (ct_status* st = as_matrix(A, scratch, &a)) return st;
  if (ct_status* st = as_matrix(B, scratch, &b)) return st;
  // The result: straight into Y when it is row-major, else into scratch and copied after.
  const MatrixLayout yl = matrix_layout(M, N, Y->dl.strides[r - 2], Y->dl.strides[r - 1]);
  const bool direct = yl.usable && !yl.col_major && (r == 2 || Y->dl.strides[0] > 0 || batch == 1);
  const int64_t w = size_of_ty(t);
  char* y = element0(Y);
  int64_t ldy = yl.ld, y_batch = r == 3 ? Y->dl.strides[0] : 0;
  if (!direct) {
    y = scratch.get(uint64_t(batch * M * N * w));
    if (!y) return error(CT_RESOURCE_EXHAUSTED, "cuda: out of memory for core.gemm's result");
    ldy = N, y_batch = M * N;
  }
  // beta · C first, when there is a C: C copied onto the result.
  if (C && beta != 0) {
    const ct_tensor* both[2] = {C, Y};
    Space space;
    Operand ops[2];
    plan_space(both, 2, space, ops);
    if (!direct) {  // the scratch result is dense row-major
      const ct_tensor* one[1] = {C};
      plan_space(one, 1, space, ops);
      ops[1] = Operand{};
      ops[1].data = y, ops[1].ty = t;
      int64_t stride = 1;
      for (int d = space.ndim - 1; d >= 0; --d) ops[1].strides[d] = stride, stride *= space.shape[d];
    }
    if (cudaError_t e = launch_copy(space, ops[0], ops[1], s->stream)) return cuda_error(e, "core.gemm's C");
  }
  const Blas& cublas = blas();
  if (!s->blas) {
    if (cublasStatus_t st = cublas.create(&s->blas)) return cublas_error(st, "cublasCreate");
    cublas.set_stream(s->blas, s->stream);
    cublas.set_math_mode(s->blas, c->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  }
  // Row-major Y = op(A) op(B) is column-major Yᵀ = op(B)ᵀ op(A)ᵀ: B first, flags as given,
  // flipped for an operand stored column-major.
  const cublasOperation_t opb = (tb != b.col_major) ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opa = (ta != a.col_major) ? CUBLAS_OP_T : CUBLAS_OP_N;
  const float alpha32 = float(alpha), beta32 = C && beta != 0 ? float(beta) : 0.0f;
  const double beta64 = C && beta != 0 ? beta : 0.0;
  const void* pa = t == Ty::f64 ? static_cast<const void*>(&alpha) : &alpha32;
  const void* pb = t == Ty::f64 ? static_cast<const void*>(&beta64) : &beta32;
  const cudaDataType dt = data_type(t);
  const cublasComputeType_t compute = t == Ty::f64                 ? CUBLAS_COMPUTE_64F
                                      : t == Ty::f32 && c->tf32    ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                   : CUBLAS_COMPUTE_32F;
  cublasStatus_t st = cublas.gemm_strided_batched(s->blas, opb, opa, int(N), int(M), int(K), pa, b.p, dt, int(b.ld),
                                                 b.batch_stride, a.p, dt, int(a.ld), a.batch_stride, pb, y, dt,
                                                 int(ldy), y_batch, int(batch), compute, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS) return cublas_error(st, "core.gemm (cublasGemmStridedBatchedEx)");
  if (!direct) {
    Space space;
    Operand ops[2];
    const ct_tensor* one[1] = {Y};
    plan_space(one, 1, space, &ops[1]);
    ops[0] = Operand{};
    ops[0].data = y, ops[0].ty = t;
    // Y's merged space keeps the row-major order of its elements, so the dense source's
    // strides follow from the merged shape.
    int64_t stride = 1;
    for (int d = space.ndim - 1; d >= 0; --d) ops[0].strides[d] = stride, stride *= space.shape[d];
    if (cudaError_t e = launch_copy(space, ops[0], ops[1], s->stream)) return cuda_error(e, "core.gemm's result");
  }
  return nullptr;
}

}  // namespace

int32_t supports_op(Context*, int32_t, const ct_op* op, const char** reason) {
  const char* why = nullptr;
  const char* n = op->name;
  if (op->version != 1) {
    why = "only version 1 of the core ops";
  } else if (std::strcmp(n, "core.fill") == 0) {
    if (op->num_outputs != 1 || op->num_inputs != 0) why = "takes one output";
    else if (ty_of(op->outputs[0]->dl.dtype) == Ty::unknown) why = "unknown dtype";
    else if (!ct_sdk_attr(op, "value")) why = "value is required";
  } else if (std::strcmp(n, "core.copy") == 0) {
    if (op->num_inputs != 1 || op->num_outputs != 1) why = "takes x, gives y";
    else if (ty_of(op->inputs[0]->dl.dtype) == Ty::unknown || ty_of(op->outputs[0]->dl.dtype) == Ty::unknown)
      why = "unknown dtype";
    else if (!ct_sdk_same_shape(op->inputs[0], op->outputs[0])) why = "x and y must have one shape";
  } else if (const UnaryName* u = unary_named(n)) {
    why = check_elementwise(op, 1, u->ints);
  } else if (const BinaryName* b = binary_named(n)) {
    why = check_elementwise(op, 2, b->ints);
  } else if (compare_named(n)) {
    why = check_compare(op);
  } else if (std::strcmp(n, "core.where") == 0) {
    why = check_where(op);
  } else if (const ReduceName* r = reduce_named(n)) {
    why = check_reduce(op, r->ints);
  } else if (std::strcmp(n, "core.gemm") == 0) {
    why = check_gemm(op);
  } else if (const UpdateName* u = update_named(n)) {
    why = check_update(op, *u);
  } else if (std::strcmp(n, "core.take") == 0 || std::strcmp(n, "core.take_add") == 0) {
    why = check_take(op, std::strcmp(n, "core.take_add") == 0);
  } else if (std::strcmp(n, "core.random_uniform") == 0 || std::strcmp(n, "core.random_normal") == 0) {
    if (op->num_inputs != 0 || op->num_outputs != 1) why = "takes no input and one output";
    else if (!is_float(ty_of(op->outputs[0]->dl.dtype))) why = "needs a floating-point output";
    else if (!ct_sdk_attr(op, "seed") || !ct_sdk_attr(op, "offset")) why = "seed and offset are required";
  } else {
    why = "not implemented on cuda yet";
  }
  if (why && reason) *reason = why;
  return why ? CT_UNSUPPORTED : CT_SUPPORTED;
}

ct_status* launch(Context* c, ct_stream* s, const ct_op* op) {
  for (int i = 0; i < op->num_inputs; ++i) note_use(s, op->inputs[i]->buffer);
  for (int i = 0; i < op->num_outputs; ++i) note_use(s, op->outputs[i]->buffer);
  note_op(s, op->name);
  c->devices[size_t(s->device)]->home = s;
  const char* n = op->name;
  if (std::strcmp(n, "core.gemm") == 0) return gemm(c, s, op);
  if (std::strcmp(n, "core.take") == 0) return take(s, op, false);
  if (std::strcmp(n, "core.take_add") == 0) return take(s, op, true);
  if (const UpdateName* u = update_named(n)) {
    const cudaError_t e = ty_of(op->inputs[0]->dl.dtype) == Ty::f64 ? run_update<double>(op, u->rule, s->stream)
                                                                    : run_update<float>(op, u->rule, s->stream);
    return e == cudaSuccess ? nullptr : cuda_error(e, n);
  }
  if (const ReduceName* r = reduce_named(n)) {
    bool reduced[kMaxDims];
    ReduceSpace space;
    if (!reduced_axes(op, reduced) || !plan_reduce(op->inputs[0], op->outputs[0], reduced, space))
      return error(CT_INVALID_ARGUMENT, std::string("cuda: ") + n + ": axes out of range or repeated");
    const cudaError_t e = launch_reduce(r->op, space, s->stream);
    return e == cudaSuccess ? nullptr : cuda_error(e, n);
  }
  const int count = op->num_inputs + 1;
  const ct_tensor* ts[4];
  for (int i = 0; i < op->num_inputs; ++i) ts[i] = op->inputs[i];
  ts[op->num_inputs] = op->outputs[0];
  Space space;
  Operand ops[4];
  if (!plan_space(ts, count, space, ops)) return error(CT_UNIMPLEMENTED, std::string("cuda: ") + n + ": rank too high");
  cudaError_t e = cudaSuccess;
  if (std::strcmp(n, "core.fill") == 0) e = launch_fill(space, ops[0], ct_sdk_float(op, "value", 0), s->stream);
  else if (std::strcmp(n, "core.copy") == 0) e = launch_copy(space, ops[0], ops[1], s->stream);
  else if (const UnaryName* u = unary_named(n)) e = launch_unary(u->op, space, ops[0], ops[1], s->stream);
  else if (const BinaryName* b = binary_named(n)) e = launch_binary(b->op, space, ops[0], ops[1], ops[2], s->stream);
  else if (const CompareName* k = compare_named(n)) e = launch_compare(k->op, space, ops[0], ops[1], ops[2], s->stream);
  else if (std::strcmp(n, "core.where") == 0) e = launch_where(space, ops[0], ops[1], ops[2], ops[3], s->stream);
  else if (std::strcmp(n, "core.random_uniform") == 0)
    e = launch_random(false, space, ops[0], uint64_t(ct_sdk_int(op, "seed", 0)), uint64_t(ct_sdk_int(op, "offset", 0)),
                      ct_sdk_float(op, "low", 0), ct_sdk_float(op, "high", 1), s->stream);
  else if (std::strcmp(n, "core.random_normal") == 0)
    e = launch_random(true, space, ops[0], uint64_t(ct_sdk_int(op, "seed", 0)), uint64_t(ct_sdk_int(op, "offset", 0)),
                      ct_sdk_float(op, "mean", 0), ct_sdk_float(op, "stddev", 1), s->stream);
  else return error(CT_UNIMPLEMENTED, std::string("cuda: ") + n + " is not implemented");
  return e == cudaSuccess ? nullptr : cuda_error(e, n);
}

}  // namespace catena_cuda
