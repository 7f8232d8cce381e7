"""2-D max / average pooling on the GPU (formulas: kernels/reference/pool.py). One thread per output.

x, dx (N,C,H,W); y, dy, idx (N,C,OH,OW); idx int32 = argmax as h*W + w in the input plane (first maximum
in row-major window order; a NaN wins, as the cpu kernels). Threads walk the flat output index, so the
innermost (contiguous) axis maps to consecutive threads. The backward kernels gather instead of scatter:
one thread per input pixel sums the outputs whose window covers it, in the cpu kernels' row-major window
order, so overlapping windows (kernel 3 / stride 2) are exact and deterministic without atomics.
"""

from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"]


# --- device helpers -----------------------------------------------------------------------------------


@cuda.jit(device=True)
def _unravel(i, c, h, w):
    """(n, c, h, w) of the flat index i into a C-contiguous (N, C, H, W) array."""
    col = i % w
    t = i // w
    row = t % h
    p = t // h
    return p // c, p % c, row, col


@cuda.jit(device=True)
def _window(o, s, p, k, size):
    """In-bounds extent [lo, hi) of output o's window along one axis (stride s, padding p, kernel k)."""
    start = o * s - p
    return max(start, 0), min(start + k, size)


@cuda.jit(device=True)
def _covering(i, s, p, k, out):
    """Outputs [lo, hi) along one axis whose window covers input i: o*s - p <= i < o*s - p + k."""
    first = i + p - k + 1
    lo = 0 if first <= 0 else (first + s - 1) // s
    return lo, min((i + p) // s + 1, out)


@cuda.jit(device=True)
def _divisor(h0, h1, w0, w1, kh, kw, count_include_pad):
    """The average's divisor: kh*kw, or the window's in-bounds taps."""
    return kh * kw if count_include_pad else (h1 - h0) * (w1 - w0)


# --- kernels ------------------------------------------------------------------------------------------


@cuda.jit
def _maxpool_forward_kernel(y, idx, x, kh, kw, sh, sw, ph, pw):
    """y[n,c,a,q] = max of x over window (a, q) (padding excluded), idx = its argmax h*W + w; one thread per
    output of y, idx (N,C,OH,OW) from x (N,C,H,W)."""
    i = cuda.grid(1)
    if i >= y.size:
        return
    w = x.shape[3]
    b, ci, a, q = _unravel(i, y.shape[1], y.shape[2], y.shape[3])
    h0, h1 = _window(a, sh, ph, kh, x.shape[2])
    w0, w1 = _window(q, sw, pw, kw, w)
    best = x[b, ci, h0, w0]
    arg = h0 * w + w0
    for hh in range(h0, h1):
        for ww in range(w0, w1):
            v = x[b, ci, hh, ww]
            if v > best or (v != v and best == best):
                best = v
                arg = hh * w + ww
    y[b, ci, a, q] = best
    idx[b, ci, a, q] = arg


@cuda.jit
def _maxpool_backward_kernel(dx, dy, idx, kh, kw, sh, sw, ph, pw):
    """dx[n,c,h,w] = sum of dy[n,c,a,q] over the windows covering (h, w) whose idx is h*W + w; one thread
    per input pixel of dx (N,C,H,W) from dy, idx (N,C,OH,OW)."""
    i = cuda.grid(1)
    if i >= dx.size:
        return
    w = dx.shape[3]
    b, ci, hh, ww = _unravel(i, dx.shape[1], dx.shape[2], w)
    a0, a1 = _covering(hh, sh, ph, kh, dy.shape[2])
    q0, q1 = _covering(ww, sw, pw, kw, dy.shape[3])
    me = hh * w + ww
    s = dx.dtype.type(0)
    for a in range(a0, a1):
        for q in range(q0, q1):
            if idx[b, ci, a, q] == me:
                s += dy[b, ci, a, q]
    dx[b, ci, hh, ww] = s


@cuda.jit
def _avgpool_forward_kernel(y, x, kh, kw, sh, sw, ph, pw, count_include_pad):
    """y[n,c,a,q] = sum of x over window (a, q) / divisor (kh*kw, or the in-bounds taps); one thread per
    output of y (N,C,OH,OW) from x (N,C,H,W)."""
    i = cuda.grid(1)
    if i >= y.size:
        return
    b, ci, a, q = _unravel(i, y.shape[1], y.shape[2], y.shape[3])
    h0, h1 = _window(a, sh, ph, kh, x.shape[2])
    w0, w1 = _window(q, sw, pw, kw, x.shape[3])
    s = x.dtype.type(0)
    for hh in range(h0, h1):
        for ww in range(w0, w1):
            s += x[b, ci, hh, ww]
    y[b, ci, a, q] = s / x.dtype.type(_divisor(h0, h1, w0, w1, kh, kw, count_include_pad))


@cuda.jit
def _avgpool_backward_kernel(dx, dy, kh, kw, sh, sw, ph, pw, count_include_pad):
    """dx[n,c,h,w] = sum of dy[n,c,a,q] / divisor(a, q) over the windows covering (h, w); one thread per
    input pixel of dx (N,C,H,W) from dy (N,C,OH,OW)."""
    i = cuda.grid(1)
    if i >= dx.size:
        return
    h, w = dx.shape[2], dx.shape[3]
    b, ci, hh, ww = _unravel(i, dx.shape[1], h, w)
    a0, a1 = _covering(hh, sh, ph, kh, dy.shape[2])
    q0, q1 = _covering(ww, sw, pw, kw, dy.shape[3])
    s = dx.dtype.type(0)
    for a in range(a0, a1):
        h0, h1 = _window(a, sh, ph, kh, h)
        for q in range(q0, q1):
            w0, w1 = _window(q, sw, pw, kw, w)
            s += dy[b, ci, a, q] / dx.dtype.type(_divisor(h0, h1, w0, w1, kh, kw, count_include_pad))
    dx[b, ci, hh, ww] = s


# --- launchers ----------------------------------------------------------------------------------------


def maxpool2d_forward(y, idx, x, kh, kw, sh, sw, ph, pw):
    require_device("maxpool2d_forward", y=y, idx=idx, x=x)
    _maxpool_forward_kernel[blocks(y.size), THREADS](y, idx, x, int(kh), int(kw), int(sh), int(sw), int(ph),
                                                     int(pw))


def maxpool2d_backward(dx, dy, idx, kh, kw, sh, sw, ph, pw):
    require_device("maxpool2d_backward", dx=dx, dy=dy, idx=idx)
    _maxpool_backward_kernel[blocks(dx.size), THREADS](dx, dy, idx, int(kh), int(kw), int(sh), int(sw), int(ph),
                                                       int(pw))


def avgpool2d_forward(y, x, kh, kw, sh, sw, ph, pw, count_include_pad):
    require_device("avgpool2d_forward", y=y, x=x)
    _avgpool_forward_kernel[blocks(y.size), THREADS](y, x, int(kh), int(kw), int(sh), int(sw), int(ph), int(pw),
                                                     bool(count_include_pad))


def avgpool2d_backward(dx, dy, kh, kw, sh, sw, ph, pw, count_include_pad):
    require_device("avgpool2d_backward", dx=dx, dy=dy)
    _avgpool_backward_kernel[blocks(dx.size), THREADS](dx, dy, int(kh), int(kw), int(sh), int(sw), int(ph),
                                                       int(pw), bool(count_include_pad))
