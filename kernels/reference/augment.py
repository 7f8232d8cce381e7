"""Batch augmentation (NumPy oracles). x, out (N, C, H, W); per-sample parameters drawn by the host.

shift:   out[n,c,h,w] = x[n,c,h - dy[n], w - dx[n]], 0 outside (= zero-pad then random crop)
hflip:   out[n] = x[n, :, :, ::-1] if flip[n] else x[n]
rotate:  out[n,c,p] = bilinear sample of x[n,c] at R(-angle[n]) (p - ctr) + ctr, ctr = ((H-1)/2, (W-1)/2),
         0 outside; angle in radians, counter-clockwise in image coordinates (row down, column right)
noise:   out = x + sigma * noise                                (noise ~ N(0, 1) drawn by the host)
mixup:   out_x = lam x + (1 - lam) x[perm];  out_y = lam y + (1 - lam) y[perm]   (y soft labels (N, K))
"""

import numpy as np

__all__ = ["shift_forward", "hflip_forward", "rotate_forward", "noise_forward", "mixup_forward"]


def shift_forward(out, x, dy, dx):
    n, _, h, w = x.shape
    out[...] = 0
    for i in range(n):
        a, b = int(dy[i]), int(dx[i])
        src = x[i, :, max(0, -a):h - max(0, a), max(0, -b):w - max(0, b)]
        out[i, :, max(0, a):max(0, a) + src.shape[1], max(0, b):max(0, b) + src.shape[2]] = src


def hflip_forward(out, x, flip):
    out[...] = np.where(flip.astype(bool)[:, None, None, None], x[..., ::-1], x)


def rotate_forward(out, x, angle):
    n, c, h, w = x.shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for i in range(n):
        cos, sin = np.cos(angle[i]), np.sin(angle[i])
        # inverse map: output pixel -> source position (rotate by -angle)
        sy = cos * (rows - cy) - sin * (cols - cx) + cy
        sx = sin * (rows - cy) + cos * (cols - cx) + cx
        y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
        fy, fx = sy - y0, sx - x0
        acc = np.zeros((c, h, w))
        for oy, ox, wt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
            yy, xx = y0 + oy, x0 + ox
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            vals = np.zeros((c, h, w))
            vals[:, ok] = x[i][:, yy[ok], xx[ok]]
            acc += wt * vals
        out[i] = acc


def noise_forward(out, x, noise, sigma):
    out[...] = x + sigma * noise


def mixup_forward(out_x, out_y, x, y, perm, lam):
    out_x[...] = lam * x + (1 - lam) * x[perm]
    out_y[...] = lam * y + (1 - lam) * y[perm]
