"""Whole-buffer elementwise ops the device training path needs (zero_grad, residual adds, buffer copies).

Shapes: every array is 1-D, C-contiguous, float32 or float64, all of one dtype and one length N;
``value`` is a Python number (cast to x's dtype first).

fill(x, value)      x_i <- value
add(out, a, b)      out_i <- a_i + b_i          (out may be a or b)
copy(out, x)        out_i <- x_i
"""

__all__ = ["fill", "add", "copy"]


def fill(x, value):
    x[...] = x.dtype.type(value)


def add(out, a, b):
    out[...] = a + b


def copy(out, x):
    out[...] = x
