"""Batch augmentation on the GPU (formulas: kernels/reference/augment.py).

x, out (N, C, H, W) float; dy, dx, flip int (N,); angle float64 (N,); noise like x; perm int64 (N,);
y, out_y (N, K). One thread per output element (adjacent threads, adjacent columns of a row: coalesced
writes), one launch per call; float scalars are cast to the data's dtype on the host. rotate computes its
source coordinates and bilinear weights in float64 (angle is float64), as the reference.
"""

import math

from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device

__all__ = ["shift_forward", "hflip_forward", "rotate_forward", "noise_forward", "mixup_forward"]


@cuda.jit(device=True)
def _nchw(i, x):
    """(n, c, r, q) of flat index i of the C-contiguous (N, C, H, W) array x."""
    _, c, h, w = x.shape
    q = i % w
    i //= w
    r = i % h
    i //= h
    return i // c, i % c, r, q


@cuda.jit
def _shift_kernel(out, x, dy, dx):
    """out[n, c, r, q] = x[n, c, r - dy[n], q - dx[n]], 0 outside; out, x (N, C, H, W), dy, dx (N,)."""
    i = cuda.grid(1)
    if i < x.size:
        n, c, r, q = _nchw(i, x)
        sr, sq = r - dy[n], q - dx[n]
        inside = 0 <= sr < x.shape[2] and 0 <= sq < x.shape[3]
        out[n, c, r, q] = x[n, c, sr, sq] if inside else out.dtype.type(0)


@cuda.jit
def _hflip_kernel(out, x, flip):
    """out[n, c, r, q] = x[n, c, r, W - 1 - q] if flip[n] else x[n, c, r, q]; out, x (N, C, H, W), flip (N,)."""
    i = cuda.grid(1)
    if i < x.size:
        n, c, r, q = _nchw(i, x)
        out[n, c, r, q] = x[n, c, r, x.shape[3] - 1 - q] if flip[n] != 0 else x[n, c, r, q]


@cuda.jit
def _rotate_kernel(out, x, angle):
    """out[n, c, p] = bilinear sample of x[n, c] at R(-angle[n]) (p - ctr) + ctr, ctr = ((H-1)/2, (W-1)/2),
    0 outside; out, x (N, C, H, W), angle (N,) float64."""
    i = cuda.grid(1)
    if i < x.size:
        n, c, r, q = _nchw(i, x)
        h, w = x.shape[2], x.shape[3]
        cy, cx = (h - 1) / 2, (w - 1) / 2
        cos, sin = math.cos(angle[n]), math.sin(angle[n])
        sy = cos * (r - cy) - sin * (q - cx) + cy
        sx = sin * (r - cy) + cos * (q - cx) + cx
        y0, x0 = int(math.floor(sy)), int(math.floor(sx))
        fy, fx = sy - y0, sx - x0
        acc = 0.0
        for oy in range(2):
            yy = y0 + oy
            if 0 <= yy < h:
                wy = fy if oy else 1 - fy
                for ox in range(2):
                    xx = x0 + ox
                    if 0 <= xx < w:
                        acc += wy * (fx if ox else 1 - fx) * x[n, c, yy, xx]
        out[n, c, r, q] = acc


@cuda.jit
def _noise_kernel(out, x, noise, sigma):
    """out = x + sigma * noise; out, x, noise (n,) (flat views)."""
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] + sigma * noise[i]


@cuda.jit(device=True)
def _mix_entry(out, a, perm, lam, lam1, i):
    """out.flat[i] = lam a[r, j] + (1 - lam) a[perm[r], j] (lam1 = 1 - lam) for (r, j) = divmod(i, D); a (N, D)."""
    d = a.shape[1]
    r = i // d
    j = i - r * d
    out[r, j] = lam * a[r, j] + lam1 * a[perm[r], j]


@cuda.jit
def _mixup_kernel(out_x, out_y, x, y, perm, lam, lam1):
    """out_x = lam x + (1 - lam) x[perm], out_y = lam y + (1 - lam) y[perm] in one launch (threads past x's
    entries take y's); out_x, x (N, D) (flat views of the images), out_y, y (N, K), perm (N,)."""
    i = cuda.grid(1)
    if i < x.size:
        _mix_entry(out_x, x, perm, lam, lam1, i)
    elif i < x.size + y.size:
        _mix_entry(out_y, y, perm, lam, lam1, i - x.size)


def _grid(a):
    return blocks(a.size), THREADS


def shift_forward(out, x, dy, dx):
    require_device("shift_forward", out=out, x=x, dy=dy, dx=dx)
    _shift_kernel[_grid(x)](out, x, dy, dx)


def hflip_forward(out, x, flip):
    require_device("hflip_forward", out=out, x=x, flip=flip)
    _hflip_kernel[_grid(x)](out, x, flip)


def rotate_forward(out, x, angle):
    require_device("rotate_forward", out=out, x=x, angle=angle)
    _rotate_kernel[_grid(x)](out, x, angle)


def noise_forward(out, x, noise, sigma):
    require_device("noise_forward", out=out, x=x, noise=noise)
    _noise_kernel[_grid(x)](out.reshape(-1), x.reshape(-1), noise.reshape(-1), x.dtype.type(sigma))


def mixup_forward(out_x, out_y, x, y, perm, lam):
    require_device("mixup_forward", out_x=out_x, out_y=out_y, x=x, y=y, perm=perm)
    n = x.shape[0]
    if n == 0:
        return
    dt = x.dtype.type
    _mixup_kernel[blocks(x.size + y.size), THREADS](out_x.reshape(n, -1), out_y, x.reshape(n, -1), y, perm,
                                                    dt(lam), dt(1 - lam))
