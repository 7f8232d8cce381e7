"""Batch augmentation kernels (formulas: kernels/reference/augment.py). Parallel over the batch with a
serial per-sample helper each (numba vectorizes loops in helpers, not inline in prange bodies).

x, out (N, C, H, W) float; dy, dx, flip int (N,); angle float64 (N,); noise like x; perm int64 (N,);
y, out_y (N, K).
"""

import math

from numba import prange

from kernels.cpu._jit import jit, pjit

__all__ = ["shift_forward", "hflip_forward", "rotate_forward", "noise_forward", "mixup_forward"]


@jit
def _shift_sample(out, x, a, b):
    c, h, w = x.shape
    out[...] = 0
    r0, r1 = max(0, a), h + min(0, a)
    q0, q1 = max(0, b), w + min(0, b)
    for ci in range(c):
        for r in range(r0, r1):
            out[ci, r, q0:q1] = x[ci, r - a, q0 - b:q1 - b]


@pjit
def shift_forward(out, x, dy, dx):
    for i in prange(x.shape[0]):
        _shift_sample(out[i], x[i], dy[i], dx[i])


@jit
def _flip_sample(out, x, flip):
    c, h, w = x.shape
    for ci in range(c):
        for r in range(h):
            if flip:
                for q in range(w):
                    out[ci, r, q] = x[ci, r, w - 1 - q]
            else:
                out[ci, r] = x[ci, r]


@pjit
def hflip_forward(out, x, flip):
    for i in prange(x.shape[0]):
        _flip_sample(out[i], x[i], flip[i] != 0)


@jit
def _rotate_sample(out, x, angle):
    c, h, w = x.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    cos, sin = math.cos(angle), math.sin(angle)
    for r in range(h):
        for q in range(w):
            sy = cos * (r - cy) - sin * (q - cx) + cy
            sx = sin * (r - cy) + cos * (q - cx) + cx
            y0, x0 = math.floor(sy), math.floor(sx)
            fy, fx = sy - y0, sx - x0
            for ci in range(c):
                acc = 0.0
                for oy in range(2):
                    yy = int(y0) + oy
                    if yy < 0 or yy >= h:
                        continue
                    wy = fy if oy else 1 - fy
                    for ox in range(2):
                        xx = int(x0) + ox
                        if 0 <= xx < w:
                            acc += wy * (fx if ox else 1 - fx) * x[ci, yy, xx]
                out[ci, r, q] = acc


@pjit
def rotate_forward(out, x, angle):
    for i in prange(x.shape[0]):
        _rotate_sample(out[i], x[i], angle[i])


@jit
def _axpy_sample(out, x, z, sigma):
    xf, zf, of = x.reshape(x.size), z.reshape(z.size), out.reshape(out.size)
    for j in range(xf.size):
        of[j] = xf[j] + sigma * zf[j]


@pjit
def noise_forward(out, x, noise, sigma):
    for i in prange(x.shape[0]):
        _axpy_sample(out[i], x[i], noise[i], sigma)


@jit
def _mix_sample(out, a, b, lam):
    af, bf, of = a.reshape(a.size), b.reshape(b.size), out.reshape(out.size)
    for j in range(af.size):
        of[j] = lam * af[j] + (1 - lam) * bf[j]


@pjit
def mixup_forward(out_x, out_y, x, y, perm, lam):
    for i in prange(x.shape[0]):
        _mix_sample(out_x[i], x[i], x[perm[i]], lam)
        _mix_sample(out_y[i], y[i], y[perm[i]], lam)
