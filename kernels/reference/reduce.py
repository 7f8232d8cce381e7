"""Reductions and elementwise rescaling over the segments of a flat buffer (global gradient norm, clipping).

Shapes: ``x`` is a 1-D float array (the model's flat gradient buffer), ``out`` a float64 array of
shape (1,); ``seg_start``, ``seg_end`` int64 (S,) select the stretches x[seg_start[s]:seg_end[s]]
(elements outside every segment are never read or written). Sums accumulate in float64.

sumsq(out, x, ...)          out[0] = sum_i x_i^2                    (the squared 2-norm)
sum_abs_pow(out, x, ..., p) out[0] = sum_i |x_i|^p,  p > 0 finite   (the p-th power of the p-norm)
absmax(out, x, ...)         out[0] = max_i |x_i| (0 when empty; NaN when any x_i is NaN)   (the inf-norm)
scale(x, ..., s)            x_i <- x_i * s                          (s cast to x's dtype first)
clip_value(x, ..., c)       x_i <- min(max(x_i, -c), c)             (NaN stays NaN, as torch.clamp)
"""

import numpy as np

__all__ = ["sumsq", "sum_abs_pow", "absmax", "scale", "clip_value"]


def _pieces(x, seg_start, seg_end):
    return [x[int(s):int(e)] for s, e in zip(seg_start, seg_end)]


def sumsq(out, x, seg_start, seg_end):
    out[0] = sum(float(np.sum(np.square(v, dtype=np.float64))) for v in _pieces(x, seg_start, seg_end))


def sum_abs_pow(out, x, seg_start, seg_end, p):
    out[0] = sum(float(np.sum(np.abs(v.astype(np.float64)) ** p)) for v in _pieces(x, seg_start, seg_end))


def absmax(out, x, seg_start, seg_end):
    maxima = [np.max(np.abs(v.astype(np.float64))) for v in _pieces(x, seg_start, seg_end) if v.size]
    out[0] = np.max(maxima) if maxima else 0.0  # np.max propagates NaN


def scale(x, seg_start, seg_end, s):
    for v in _pieces(x, seg_start, seg_end):
        v *= x.dtype.type(s)


def clip_value(x, seg_start, seg_end, c):
    for v in _pieces(x, seg_start, seg_end):
        np.clip(v, -c, c, out=v)
