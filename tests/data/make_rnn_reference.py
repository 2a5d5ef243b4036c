"""Reference outputs of Chainer 7.8.1's L.LSTM and L.NStepLSTM for tests/plugins/test_rnn.cpp.

Run with real Chainer (see make_chainer_reference.py for the venv); prints the values the
test compares against. Weights and inputs are fixed formulas, so the C++ test builds the
same ones.
"""
import math
import numpy as np
import chainer
import chainer.links as L


def w_value(k, i, j):
    return 0.3 * math.sin(k + 0.1 * i + 0.03 * j)


def b_value(k, i):
    return 0.1 * math.cos(k + i)


def x_value(s, t, j):
    return math.sin(1.0 + s + 0.5 * t + 0.25 * j)


def fmt(name, a):
    flat = ", ".join("%.9g" % v for v in np.asarray(a, dtype=np.float64).ravel())
    print("const std::vector<double> %s = {%s};" % (name, flat))


# NStepLSTM(2 layers, in 2, out 3), sequences of lengths 3, 1, 2, given hx and cx.
n = L.NStepLSTM(2, 2, 3, 0.0)
for l in range(2):
    for k in range(8):
        w = getattr(n[l], "w%d" % k)
        b = getattr(n[l], "b%d" % k)
        w.array[...] = np.array([[w_value(k + 8 * l, i, j) for j in range(w.shape[1])] for i in range(w.shape[0])])
        b.array[...] = np.array([b_value(k + 8 * l, i) for i in range(b.shape[0])])
lengths = [3, 1, 2]
xs = [np.array([[x_value(s, t, j) for j in range(2)] for t in range(lengths[s])], dtype=np.float32)
      for s in range(3)]
hx = np.array([[[0.1 * math.cos(l + s + j) for j in range(3)] for s in range(3)] for l in range(2)], np.float32)
cx = np.array([[[0.2 * math.sin(l + s + j) for j in range(3)] for s in range(3)] for l in range(2)], np.float32)
with chainer.using_config("train", False):
    hy, cy, ys = n(hx, cx, xs)
fmt("nstep_hy", hy.array)
fmt("nstep_cy", cy.array)
fmt("nstep_ys", np.concatenate([y.array for y in ys]))

# L.LSTM(2, 3): a step with batch 2, then a step with batch 1.
m = L.LSTM(2, 3)
m.upward.W.array[...] = np.array([[w_value(0, i, j) for j in range(2)] for i in range(12)])
m.upward.b.array[...] = np.array([b_value(1, i) for i in range(12)])
m.lateral.W.array[...] = np.array([[w_value(2, i, j) for j in range(3)] for i in range(12)])
x1 = np.array([[x_value(s, 0, j) for j in range(2)] for s in range(2)], np.float32)
x2 = np.array([[x_value(5, 1, j) for j in range(2)]], np.float32)
y1 = m(x1)
y2 = m(x2)
fmt("lstm_y1", y1.array)
fmt("lstm_y2", y2.array)
fmt("lstm_h", m.h.array)
fmt("lstm_c", m.c.array)
fresh = L.LSTM(2, 3)
fmt("lstm_fresh_bias", fresh.upward.b.array)
