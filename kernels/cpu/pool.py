"""2-D max / average pooling (formulas: kernels/reference/pool.py). Parallel over the batch: one chunk of
samples per thread (kernels/cpu/_threads.py), one chunk for inputs up to SERIAL_MAX elements.

x, dx (N,C,H,W); y, dy, idx (N,C,OH,OW); idx int32 = argmax as h*W + w in the input plane.
Generic windows run small data-dependent loops that numba cannot unroll (0.9 ms for LeNet's
64x6x28x28 on one core); the ubiquitous 2x2/stride-2/no-padding case has an unrolled path (0.07 ms).
"""

from kernels.cpu._jit import jit
from kernels.cpu._threads import chunk_count, chunk_span, release_workers, run_chunks

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"]


SERIAL_MAX = 1 << 14  # inputs up to this size pool on the calling thread alone: waking a worker costs ~50 us


def maxpool2d_forward(y, idx, x, kh, kw, sh, sw, ph, pw):
    """The 2x2 / stride 2 / no padding kernel or the generic one, chosen here in Python so that a model
    compiles only the one it uses; the batch chunks run on threads (kernels/cpu/_threads.py)."""
    nchunks = chunk_count(x.shape[0], x.size, SERIAL_MAX)
    if kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0:
        run_chunks(_maxpool2x2_chunk, (y, idx, x, nchunks), nchunks)
    else:
        run_chunks(_maxpool_chunk, (y, idx, x, kh, kw, sh, sw, ph, pw, nchunks), nchunks)


@jit
def _maxpool2x2_chunk(y, idx, x, nchunks, t, sync):
    release_workers(sync, t)
    n0, n1 = chunk_span(x.shape[0], nchunks, t)
    for b in range(n0, n1):
        for ci in range(x.shape[1]):
            _maxpool2x2_plane(y[b, ci], idx[b, ci], x[b, ci])


@jit
def _maxpool_chunk(y, idx, x, kh, kw, sh, sw, ph, pw, nchunks, t, sync):
    release_workers(sync, t)
    n0, n1 = chunk_span(x.shape[0], nchunks, t)
    for b in range(n0, n1):
        for ci in range(x.shape[1]):
            _maxpool_plane(y[b, ci], idx[b, ci], x[b, ci], kh, kw, sh, sw, ph, pw)


@jit
def _maxpool_plane(y, idx, x, kh, kw, sh, sw, ph, pw):
    """Any window over one (H, W) plane; NaN wins (the first NaN of the window)."""
    h, w = x.shape
    for a in range(y.shape[0]):
        h0 = max(a * sh - ph, 0)
        h1 = min(a * sh - ph + kh, h)
        for q in range(y.shape[1]):
            w0 = max(q * sw - pw, 0)
            w1 = min(q * sw - pw + kw, w)
            best = x[h0, w0]
            arg = h0 * w + w0
            for hh in range(h0, h1):
                for ww in range(w0, w1):
                    v = x[hh, ww]
                    if v > best or (v != v and best == best):
                        best = v
                        arg = hh * w + ww
            y[a, q] = best
            idx[a, q] = arg


@jit
def _maxpool2x2_plane(y, idx, x):
    """2x2 / stride 2 max over one (H, W) plane; NaN wins like in the generic path."""
    w = x.shape[1]
    for a in range(y.shape[0]):
        r = 2 * a
        for q in range(y.shape[1]):
            c0 = 2 * q
            best = x[r, c0]
            arg = r * w + c0
            v = x[r, c0 + 1]
            if v > best or (v != v and best == best):
                best = v
                arg = r * w + c0 + 1
            v = x[r + 1, c0]
            if v > best or (v != v and best == best):
                best = v
                arg = (r + 1) * w + c0
            v = x[r + 1, c0 + 1]
            if v > best or (v != v and best == best):
                best = v
                arg = (r + 1) * w + c0 + 1
            y[a, q] = best
            idx[a, q] = arg


def maxpool2d_backward(dx, dy, idx, kh, kw, sh, sw, ph, pw):
    nchunks = chunk_count(dx.shape[0], dx.size, SERIAL_MAX)
    run_chunks(_maxpool_backward_chunk, (dx, dy, idx, nchunks), nchunks)


@jit
def _maxpool_backward_chunk(dx, dy, idx, nchunks, t, sync):
    """dx = 0, then dx[b, c].flat[idx] += dy for the samples of chunk t."""
    release_workers(sync, t)
    n, c, h, w = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    n0, n1 = chunk_span(n, nchunks, t)
    for b in range(n0, n1):
        for ci in range(c):
            plane = dx[b, ci].reshape(h * w)
            plane[:] = 0
            for a in range(oh):
                for q in range(ow):
                    plane[idx[b, ci, a, q]] += dy[b, ci, a, q]


def avgpool2d_forward(y, x, kh, kw, sh, sw, ph, pw, count_include_pad):
    nchunks = chunk_count(x.shape[0], x.size, SERIAL_MAX)
    run_chunks(_avgpool_chunk, (y, x, kh, kw, sh, sw, ph, pw, count_include_pad, nchunks), nchunks)


@jit
def _avgpool_chunk(y, x, kh, kw, sh, sw, ph, pw, count_include_pad, nchunks, t, sync):
    """y[b, c, a, q] = mean of x's window (divisor KH*KW, or the in-bounds count) for the samples of chunk t."""
    release_workers(sync, t)
    n, c, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    n0, n1 = chunk_span(n, nchunks, t)
    for b in range(n0, n1):
        for ci in range(c):
            for a in range(oh):
                h0 = max(a * sh - ph, 0)
                h1 = min(a * sh - ph + kh, h)
                for q in range(ow):
                    w0 = max(q * sw - pw, 0)
                    w1 = min(q * sw - pw + kw, w)
                    s = x[b, ci, h0, w0] * 0
                    for hh in range(h0, h1):
                        for ww in range(w0, w1):
                            s += x[b, ci, hh, ww]
                    div = kh * kw if count_include_pad else (h1 - h0) * (w1 - w0)
                    y[b, ci, a, q] = s / div


def avgpool2d_backward(dx, dy, kh, kw, sh, sw, ph, pw, count_include_pad):
    nchunks = chunk_count(dx.shape[0], dx.size, SERIAL_MAX)
    run_chunks(_avgpool_backward_chunk, (dx, dy, kh, kw, sh, sw, ph, pw, count_include_pad, nchunks), nchunks)


@jit
def _avgpool_backward_chunk(dx, dy, kh, kw, sh, sw, ph, pw, count_include_pad, nchunks, t, sync):
    """dx = 0, then each dy / divisor spread over its window, for the samples of chunk t."""
    release_workers(sync, t)
    n, c, h, w = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    n0, n1 = chunk_span(n, nchunks, t)
    for b in range(n0, n1):
        dx[b] = 0
        for ci in range(c):
            for a in range(oh):
                h0 = max(a * sh - ph, 0)
                h1 = min(a * sh - ph + kh, h)
                for q in range(ow):
                    w0 = max(q * sw - pw, 0)
                    w1 = min(q * sw - pw + kw, w)
                    div = kh * kw if count_include_pad else (h1 - h0) * (w1 - w0)
                    g = dy[b, ci, a, q] / div
                    for hh in range(h0, h1):
                        for ww in range(w0, w1):
                            dx[b, ci, hh, ww] += g
