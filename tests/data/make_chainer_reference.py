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
    end
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
}


def fmt(kind, arr):
    arr = np.asarray(arr)
    shape = ",".join(str(d) for d in arr.shape) or "-"
    vals = " ".join(repr(float(v)) for v in arr.ravel())
    return "%s %s %s %s" % (kind, arr.dtype.name, shape, vals)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chainer_reference.txt")
    lines = ["# Made by tests/data/make_chainer_reference.py with Chainer %s, numpy %s. Do not edit."
             % (chainer.__version__, np.__version__)]
    for dtype in (np.float32, np.float64):
        for seed, (name, (fn, specs)) in enumerate(sorted(CASES.items())):
            xs = [chainer.Variable(uniform(seed * 10 + i, s, lo, hi).astype(dtype)) for i, (s, lo, hi) in enumerate(specs)]
            y = fn(*xs)
            gy = uniform(seed * 10 + 9, y.shape).astype(dtype)
            y.grad = gy
            y.backward()
            lines.append("case %s %s" % (name, np.dtype(dtype).name))
            lines += [fmt("input", x.array) for x in xs]
            lines.append(fmt("gy", gy))
            lines.append(fmt("output", y.array))
            lines += [fmt("grad", x.grad) for x in xs]
            lines.append("end")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (2 * len(CASES), out), file=sys.stderr)


if __name__ == "__main__":
    main()
