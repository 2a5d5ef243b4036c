#!/usr/bin/env python3
"""Compute reference values for Catena's functions with real Chainer 7.8.1.

For a fixed set of inputs (numpy RandomState, fixed seeds) this runs each function
forward and backward in Chainer and writes inputs, output gradients, outputs and input
gradients to chainer_reference.txt, which tests/runtime/test_chainer_reference.cpp reads.

    python3 -m venv venv && venv/bin/pip install "setuptools<70" wheel "numpy<1.24"
    venv/bin/pip install --no-build-isolation chainer==7.8.1
    venv/bin/python tests/data/make_chainer_reference.py

File format, one record per line:
    case NAME DTYPE            starts a case (DTYPE: float32 or float64)
    input|gy|output|grad DTYPE SHAPE VALUES...   SHAPE is comma-separated ('-' for a scalar)
    grad - -                   an input that gets no gradient (integer labels)
    end
A case has one gy and one output line per output, and no gy/grad lines when the
function is not differentiable (accuracy).
"""
import os
import sys

import chainer
import chainer.functions as F
import numpy as np

assert chainer.__version__ == "7.8.1", "use Chainer 7.8.1, found " + chainer.__version__


def uniform(seed, shape, lo=-1.0, hi=1.0):
    return np.random.RandomState(seed).uniform(lo, hi, shape)


# name -> (function of Variables, list of (shape, lo, hi))
X34 = [((3, 4), -1, 1)]
POS34 = [((3, 4), 0.5, 2)]
CASES = {
    "exp": (lambda x: F.exp(x), X34),
    "log": (lambda x: F.log(x), POS34),
    "sqrt": (lambda x: F.sqrt(x), POS34),
    "square": (lambda x: F.square(x), X34),
    "absolute": (lambda x: F.absolute(x), [((3, 4), 0.2, 1)]),
    "sin": (lambda x: F.sin(x), X34),
    "cos": (lambda x: F.cos(x), X34),
    "identity": (lambda x: F.identity(x), X34),
    "neg": (lambda x: -x, X34),
    "relu": (lambda x: F.relu(x), X34),
    "leaky_relu": (lambda x: F.leaky_relu(x, slope=0.2), X34),
    "sigmoid": (lambda x: F.sigmoid(x), [((3, 4), -3, 3)]),
    "tanh": (lambda x: F.tanh(x), [((3, 4), -3, 3)]),
    "softplus": (lambda x: F.softplus(x), [((3, 4), -3, 3)]),
    "elu": (lambda x: F.elu(x), X34),
    "selu": (lambda x: F.selu(x), X34),
    "clip": (lambda x: F.clip(x, -0.5, 0.5), X34),
    "pow_scalar": (lambda x: x ** 3, X34),
    "add_scalar": (lambda x: x + 2, X34),
    "rsub_scalar": (lambda x: 3 - x, X34),
    "mul_scalar": (lambda x: x * 4, X34),
    "rdiv_scalar": (lambda x: 2 / x, POS34),
    "add": (lambda a, b: a + b, [((2, 3, 4), -1, 1), ((3, 1), -1, 1)]),
    "sub": (lambda a, b: a - b, [((2, 3, 4), -1, 1), ((3, 1), -1, 1)]),
    "mul": (lambda a, b: a * b, [((2, 3, 4), -1, 1), ((3, 1), -1, 1)]),
    "div": (lambda a, b: a / b, [((2, 3, 4), -1, 1), ((3, 1), 0.5, 2)]),
    "pow": (lambda a, b: a ** b, [((3, 4), 0.5, 2), ((3, 4), -1, 2)]),
    "maximum": (lambda a, b: F.maximum(a, b), [((3, 4), -1, 1), ((3, 4), -1, 1)]),
    "minimum": (lambda a, b: F.minimum(a, b), [((3, 4), -1, 1), ((3, 4), -1, 1)]),
    "sum_axis1": (lambda x: F.sum(x, axis=1), [((2, 3, 4), -1, 1)]),
    "sum_all": (lambda x: F.sum(x), [((2, 3, 4), -1, 1)]),
    "mean_axes02": (lambda x: F.mean(x, axis=(0, 2)), [((2, 3, 4), -1, 1)]),
    "max_axis1": (lambda x: F.max(x, axis=1), [((2, 3, 4), -1, 1)]),
    "min_axis2_keepdims": (lambda x: F.min(x, axis=2, keepdims=True), [((2, 3, 4), -1, 1)]),
    "logsumexp_axis1": (lambda x: F.logsumexp(x, axis=1), [((2, 3, 4), -1, 1)]),
    "softmax": (lambda x: F.softmax(x, axis=1), [((3, 5), -3, 3)]),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0), [((3, 5), -3, 3)]),
    "log_softmax": (lambda x: F.log_softmax(x, axis=1), [((3, 5), -3, 3)]),
    "reshape": (lambda x: F.reshape(x, (3, 2)), [((2, 3), -1, 1)]),
    "broadcast_to": (lambda x: F.broadcast_to(x, (4, 2, 3)), [((2, 3), -1, 1)]),
    "sum_to": (lambda x: F.sum_to(x, (1, 3)), [((2, 3), -1, 1)]),
    "transpose": (lambda x: F.transpose(x, (2, 0, 1)), [((2, 3, 4), -1, 1)]),
    "expand_dims": (lambda x: F.expand_dims(x, 1), [((2, 3), -1, 1)]),
    "squeeze": (lambda x: F.squeeze(x), [((2, 1, 3), -1, 1)]),
    "flatten": (lambda x: F.flatten(x), [((2, 3), -1, 1)]),
    "linear": (lambda x, W, b: F.linear(x, W, b), [((4, 3), -1, 1), ((2, 3), -1, 1), ((2,), -1, 1)]),
    "linear_nobias": (lambda x, W: F.linear(x, W), [((4, 3), -1, 1), ((2, 3), -1, 1)]),
    "matmul": (lambda a, b: F.matmul(a, b), [((4, 3), -1, 1), ((3, 5), -1, 1)]),
    "matmul_tt": (lambda a, b: F.matmul(a, b, transa=True, transb=True), [((3, 4), -1, 1), ((5, 3), -1, 1)]),
    "matmul_batched": (lambda a, b: F.matmul(a, b), [((2, 4, 3), -1, 1), ((2, 3, 5), -1, 1)]),
    "mean_squared_error": (lambda a, b: F.mean_squared_error(a, b), [((3, 4), -1, 1), ((3, 4), -1, 1)]),
    # indexing
    "get_item_slices": (lambda x: x[1:, ::-2], [((3, 5), -1, 1)]),
    "get_item_int_newaxis": (lambda x: x[:, 1, None], [((3, 4, 2), -1, 1)]),
    "get_item_array": (lambda x: x[:, np.array([0, 2, 2])], [((3, 4), -1, 1)]),
    "concat": (lambda a, b: F.concat((a, b), axis=1), [((2, 3), -1, 1), ((2, 2), -1, 1)]),
    "stack": (lambda a, b: F.stack((a, b), axis=1), [((2, 3), -1, 1), ((2, 3), -1, 1)]),
    "split_axis": (lambda x: F.split_axis(x, 2, 1)[1], [((2, 4), -1, 1)]),
    "embed_id": (lambda x, W: F.embed_id(x, W), [((2, 3), "int", 0, 5), ((5, 4), -1, 1)]),
    "embed_id_ignore": (lambda x, W: F.embed_id(x, W, ignore_label=-1), [((4,), "int", -1, 5), ((5, 3), -1, 1)]),
    "select_item": (lambda x, t: F.select_item(x, t), [((4, 3), -1, 1), ((4,), "int", 0, 3)]),
    # convolution and pooling
    "convolution_2d": (lambda x, W, b: F.convolution_2d(x, W, b, stride=2, pad=1),
                       [((2, 3, 5, 5), -1, 1), ((4, 3, 3, 3), -1, 1), ((4,), -1, 1)]),
    "convolution_2d_dilate_groups": (lambda x, W: F.convolution_2d(x, W, dilate=2, groups=3, pad=2),
                                     [((2, 3, 5, 5), -1, 1), ((6, 1, 3, 3), -1, 1)]),
    "convolution_2d_cover_all": (lambda x, W: F.convolution_2d(x, W, stride=2, cover_all=True),
                                 [((1, 2, 6, 6), -1, 1), ((3, 2, 3, 3), -1, 1)]),
    "deconvolution_2d": (lambda x, W, b: F.deconvolution_2d(x, W, b, stride=2, pad=1),
                         [((2, 4, 3, 3), -1, 1), ((4, 3, 3, 3), -1, 1), ((3,), -1, 1)]),
    "deconvolution_2d_outsize": (lambda x, W: F.deconvolution_2d(x, W, stride=2, pad=1, outsize=(6, 6)),
                                 [((1, 2, 3, 3), -1, 1), ((2, 3, 3, 3), -1, 1)]),
    "max_pooling_2d": (lambda x: F.max_pooling_2d(x, 3, stride=2, pad=1), [((2, 3, 5, 5), -1, 1)]),
    "max_pooling_2d_nocover": (lambda x: F.max_pooling_2d(x, 2, cover_all=False), [((1, 2, 5, 4), -1, 1)]),
    "average_pooling_2d": (lambda x: F.average_pooling_2d(x, 3, stride=2, pad=1), [((2, 3, 5, 5), -1, 1)]),
    # normalization and recurrent
    "batch_normalization": (lambda x, g, b: F.batch_normalization(x, g, b),
                            [((4, 3, 2, 2), -1, 1), ((3,), 0.5, 1.5), ((3,), -1, 1)]),
    "batch_normalization_2d": (lambda x, g, b: F.batch_normalization(x, g, b, eps=1e-3),
                               [((5, 3), -1, 1), ((3,), 0.5, 1.5), ((3,), -1, 1)]),
    "fixed_batch_normalization": (lambda x, g, b, m, v: F.fixed_batch_normalization(x, g, b, m, v),
                                  [((4, 3, 2), -1, 1), ((3,), 0.5, 1.5), ((3,), -1, 1), ((3,), -1, 1),
                                   ((3,), 0.5, 2)]),
    "lstm": (lambda c, x: F.lstm(c, x), [((3, 2), -1, 1), ((3, 8), -1, 1)]),
    "lstm_shrink": (lambda c, x: F.lstm(c, x), [((3, 2), -1, 1), ((2, 8), -1, 1)]),
    # losses and evaluation
    "softmax_cross_entropy": (lambda x, t: F.softmax_cross_entropy(x, t), [((4, 5), -3, 3), ((4,), "int", 0, 5)]),
    "softmax_cross_entropy_ignore": (lambda x, t: F.softmax_cross_entropy(x, t),
                                     [((5, 4), -3, 3), ((5,), "int", -1, 4)]),
    "softmax_cross_entropy_unnormalized": (lambda x, t: F.softmax_cross_entropy(x, t, normalize=False),
                                           [((5, 4), -3, 3), ((5,), "int", -1, 4)]),
    "softmax_cross_entropy_no_reduce": (lambda x, t: F.softmax_cross_entropy(x, t, reduce="no"),
                                        [((5, 4), -3, 3), ((5,), "int", -1, 4)]),
    "softmax_cross_entropy_weighted": (lambda x, t: F.softmax_cross_entropy(
                                           x, t, class_weight=np.array([0.5, 1.0, 2.0, 1.5], dtype=x.dtype)),
                                       [((5, 4), -3, 3), ((5,), "int", -1, 4)]),
    "softmax_cross_entropy_spatial": (lambda x, t: F.softmax_cross_entropy(x, t),
                                      [((2, 3, 2, 2), -3, 3), ((2, 2, 2), "int", 0, 3)]),
    "sigmoid_cross_entropy": (lambda x, t: F.sigmoid_cross_entropy(x, t), [((3, 4), -3, 3), ((3, 4), "int", -1, 2)]),
    "sigmoid_cross_entropy_no_reduce": (lambda x, t: F.sigmoid_cross_entropy(x, t, reduce="no"),
                                        [((3, 4), -3, 3), ((3, 4), "int", -1, 2)]),
    "hinge_l1": (lambda x, t: F.hinge(x, t), [((4, 3), -2, 2), ((4,), "int", 0, 3)]),
    "hinge_l2": (lambda x, t: F.hinge(x, t, norm="L2"), [((4, 3), -2, 2), ((4,), "int", 0, 3)]),
    "contrastive": (lambda a, b, y: F.contrastive(a, b, y, margin=1.5), [((4, 3), -1, 1), ((4, 3), -1, 1),
                                                                          ((4,), "int", 0, 2)]),
    "triplet": (lambda a, p, n: F.triplet(a, p, n, margin=0.5), [((4, 3), -1, 1), ((4, 3), -1, 1), ((4, 3), -1, 1)]),
    "accuracy": (lambda y, t: F.accuracy(y, t), [((6, 4), -1, 1), ((6,), "int", 0, 4)]),
    "accuracy_ignore": (lambda y, t: F.accuracy(y, t, ignore_label=-1), [((6, 4), -1, 1), ((6,), "int", -1, 4)]),
    "where": (lambda c, a, b: F.where(c, a, b), [((3, 4), "bool"), ((3, 4), -1, 1), ((3, 4), -1, 1)]),
    "cast_float16": (lambda x: F.cast(x, np.float16), X34),
    "broadcast": (lambda a, b: F.broadcast(a, b), [((2, 1), -1, 1), ((3,), -1, 1)]),
    "argmax": (lambda x: F.argmax(x, axis=1), [((4, 5), -1, 1)]),
    "add_n": (lambda a, b, c: F.add(a, b, c), [((2, 3), -1, 1), ((2, 3), -1, 1), ((2, 3), -1, 1)]),
}

NO_BACKWARD = {"accuracy", "accuracy_ignore", "argmax"}


def fmt(kind, arr):
    arr = np.asarray(arr)
    shape = ",".join(str(d) for d in arr.shape) or "-"
    vals = " ".join(repr(float(v)) for v in arr.ravel())
    return "%s %s %s %s" % (kind, arr.dtype.name, shape, vals)


def make_input(seed, spec, dtype):
    shape, lo = spec[0], spec[1]
    hi = spec[2] if len(spec) > 2 else None
    if lo == "int":  # labels and ids: int32 in [hi_lo, hi)
        return np.random.RandomState(seed).randint(hi, spec[3], shape).astype(np.int32)
    if lo == "bool":
        return np.random.RandomState(seed).randint(0, 2, shape).astype(bool)
    return uniform(seed, shape, lo, hi).astype(dtype)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chainer_reference.txt")
    lines = ["# Made by tests/data/make_chainer_reference.py with Chainer %s, numpy %s. Do not edit."
             % (chainer.__version__, np.__version__)]
    for dtype in (np.float32, np.float64):
        for seed, (name, (fn, specs)) in enumerate(sorted(CASES.items())):
            arrays = [make_input(seed * 10 + i, s, dtype) for i, s in enumerate(specs)]
            xs = [chainer.Variable(a) if a.dtype.kind == "f" else a for a in arrays]
            ys = fn(*xs)
            ys = list(ys) if isinstance(ys, tuple) else [ys]
            lines.append("case %s %s" % (name, np.dtype(dtype).name))
            lines += [fmt("input", a) for a in arrays]
            if name in NO_BACKWARD:
                lines += [fmt("output", y.array) for y in ys]
                lines.append("end")
                continue
            gys = [uniform(seed * 10 + 9 + k, y.shape).astype(y.dtype) for k, y in enumerate(ys)]
            # Record gy first: some Chainer backward methods modify their gradient in place.
            lines += [fmt("gy", g) for g in gys]
            chainer.backward(ys, [chainer.Variable(g.copy()) for g in gys])
            lines += [fmt("output", y.array) for y in ys]
            for x in xs:
                lines.append(fmt("grad", x.grad) if isinstance(x, chainer.Variable) else "grad - -")
            lines.append("end")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (2 * len(CASES), out), file=sys.stderr)


if __name__ == "__main__":
    main()
