"""im2col / col2im for 2-D convolution with zero padding and stride.

x (N, C, H, W) -> col (C*KH*KW, N*OH*OW) with
  col[(c*KH + i)*KW + j, (n*OH + oh)*OW + ow] = xpad[n, c, oh*SH + i, ow*SW + j]
OH = (H + 2*PH - KH) // SH + 1, OW likewise. col2im is its adjoint: dx[...] = sum of the column
entries that read each input pixel (padding entries dropped).
"""

import numpy as np

from kernels.shapes import conv_out_size

__all__ = ["conv_out_size", "im2col", "col2im"]


def im2col(col, x, kh, kw, sh, sw, ph, pw):
    n, c, h, w = x.shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    col[...] = cols.reshape(c * kh * kw, n * oh * ow)


def col2im(dx, col, kh, kw, sh, sw, ph, pw):
    n, c, h, w = dx.shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dx.dtype)
    cols = col.reshape(c, kh, kw, n, oh, ow)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += cols[:, i, j].transpose(1, 0, 2, 3)
    dx[...] = dxp[:, :, ph:ph + h, pw:pw + w]
