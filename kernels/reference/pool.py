"""2-D max and average pooling with kernel (KH, KW), stride (SH, SW), zero/-inf padding (PH, PW).

maxpool: y[n,c,oh,ow] = max over the window of xpad (padding = -inf); idx holds the argmax as a
         flat index h*W + w into the unpadded input plane (first maximum in row-major window order,
         as PyTorch). backward: dx[n,c].flat[idx] += dy.
avgpool: y = sum(window of zero-padded x) / (KH*KW) if count_include_pad else / (#in-bounds taps).
         backward spreads dy / divisor over the window.
x, dx (N,C,H,W); y, dy, idx (N,C,OH,OW); OH = (H + 2*PH - KH)//SH + 1.
"""

import numpy as np

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"]


def _windows(h, w, oh, ow, kh, kw, sh, sw, ph, pw):
    """Yield (oh_i, ow_i, h0, h1, w0, w1) in-bounds window extents."""
    for a in range(oh):
        for b in range(ow):
            h0, w0 = a * sh - ph, b * sw - pw
            yield a, b, max(h0, 0), min(h0 + kh, h), max(w0, 0), min(w0 + kw, w)


def maxpool2d_forward(y, idx, x, kh, kw, sh, sw, ph, pw):
    n, c, h, w = x.shape
    oh, ow = y.shape[2:]
    for a, b, h0, h1, w0, w1 in _windows(h, w, oh, ow, kh, kw, sh, sw, ph, pw):
        win = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
        k = win.argmax(axis=2)
        y[:, :, a, b] = np.take_along_axis(win, k[:, :, None], 2)[:, :, 0]
        idx[:, :, a, b] = (h0 + k // (w1 - w0)) * w + w0 + k % (w1 - w0)


def maxpool2d_backward(dx, dy, idx, kh, kw, sh, sw, ph, pw):
    n, c, h, w = dx.shape
    flat = np.zeros((n * c, h * w), dtype=dx.dtype)
    rows = np.repeat(np.arange(n * c), dy.shape[2] * dy.shape[3])
    np.add.at(flat, (rows, idx.reshape(-1)), dy.reshape(-1))
    dx[...] = flat.reshape(dx.shape)


def avgpool2d_forward(y, x, kh, kw, sh, sw, ph, pw, count_include_pad):
    h, w = x.shape[2:]
    oh, ow = y.shape[2:]
    for a, b, h0, h1, w0, w1 in _windows(h, w, oh, ow, kh, kw, sh, sw, ph, pw):
        div = kh * kw if count_include_pad else (h1 - h0) * (w1 - w0)
        y[:, :, a, b] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div


def avgpool2d_backward(dx, dy, kh, kw, sh, sw, ph, pw, count_include_pad):
    h, w = dx.shape[2:]
    oh, ow = dy.shape[2:]
    dx[...] = 0
    for a, b, h0, h1, w0, w1 in _windows(h, w, oh, ow, kh, kw, sh, sw, ph, pw):
        div = kh * kw if count_include_pad else (h1 - h0) * (w1 - w0)
        dx[:, :, h0:h1, w0:w1] += (dy[:, :, a, b] / div)[:, :, None, None]
