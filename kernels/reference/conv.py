"""2-D convolution (cross-correlation, as PyTorch) by DIRECT summation, independent of im2col.

forward:  y[n,o,oh,ow] = act(b[o] + sum_{c,i,j} w[o,c,i,j] * xpad[n,c,oh*SH+i,ow*SW+j])
          x (N,C,H,W), w (O,C,KH,KW), b (O,), y (N,O,OH,OW). The workspaces (col, ws_*; shapes from
          conv2d_workspace_shapes) and ``nchunks`` (the thread split) belong to the compiled kernels and are
          ignored here.
backward: g = dy * act'(y);  db += sum_{n,oh,ow} g;  dw[o,c,i,j] += sum g[n,o,.,.] * xpad[n,c,shifted]
          dx[n,c,h,w] = sum over the taps that read (h, w) of g * w  (skipped unless need_dx)
"""

import numpy as np

from kernels.reference.activation import act_from_output_backward, apply_activation
from kernels.shapes import conv2d_workspace_shapes

__all__ = ["conv2d_workspace_shapes", "conv2d_forward", "conv2d_backward"]


def _taps(xp, i, j, sh, sw, oh, ow):
    return xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def conv2d_forward(y, col, ws_y, ws_xp, x, w, b, sh, sw, ph, pw, act, alpha, nchunks):
    _, _, oh, ow = y.shape
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    z = np.zeros(y.shape, dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            z += np.einsum("nchw,oc->nohw", _taps(xp, i, j, sh, sw, oh, ow), w[:, :, i, j])
    z += b[None, :, None, None]
    y[...] = apply_activation(z, act, alpha)


def conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, sh, sw, ph, pw, act, alpha, need_dx,
                    nchunks):
    _, _, oh, ow = y.shape
    kh, kw = w.shape[2:]
    n, c, h, wd = x.shape
    g = act_from_output_backward(dy, y, act, alpha)
    db += g.sum(axis=(0, 2, 3))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros(xp.shape, dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            dw[:, :, i, j] += np.einsum("nohw,nchw->oc", g, _taps(xp, i, j, sh, sw, oh, ow))
            _taps(dxp, i, j, sh, sw, oh, ow)[...] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    if need_dx:
        dx[...] = dxp[:, :, ph:ph + h, pw:pw + wd]
