"""Winograd F(2x2, 3x3) building blocks for the stride-1 3x3 convolution (kernels/cpu/conv.py).

Per 2x2 output tile, from the 4x4 input tile d it reads (Lavin & Gray, 2015):
    U = G g G^T (4x4 per (o, c)),  V = B^T d B (4x4 per (c, tile)),  M[xi] = sum_c U[xi, o, c] V[xi, c, tile],
    Y = A^T M A (2x2 per (o, tile)), with
    G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]],
    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],   A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
The 16 products over c are 16 GEMMs (O, C) @ (C, T): 16 multiplies per 4 outputs instead of 36 (2.25x fewer).
Layouts: U (16, O, C); V (16, C, T) and M (16, O, T) flat, T tiles of a block of samples, tile t = (i*TH + th)*TW
+ tw for sample i of the block, the 16 planes PLANE_PAD elements further apart than their size (planes a
power-of-two bytes apart put the 16 streams of a transform in the same L1 sets: the input transform of a 32x16x16
block took 97 us instead of 18 us, kernels/lab/winograd.py); a sample's padded planes xp (C, 2*TH + 2, 2*TW + 2)
hold x at offset (ph, pw) and zeros elsewhere. TH = ceil(OH / 2), TW = ceil(OW / 2).
"""

import numpy as np

from kernels.cpu._jit import jit
from kernels.cpu.activation import activate
from kernels.shapes import WINOGRAD_PLANE_PAD as PLANE_PAD


@jit
def winograd_tiles(oh, ow):
    """(TH, TW): 2x2 output tiles per column / row."""
    return (oh + 1) // 2, (ow + 1) // 2


@jit
def _filter_row(u, k, i, j, g0, g1, g2):
    """u[4k:4k+4, i, j] = (row k of G g) G^T, from that row (g0, g1, g2) of G g."""
    u[4 * k, i, j] = g0
    u[4 * k + 1, i, j] = (g0 + g1 + g2) * 0.5
    u[4 * k + 2, i, j] = (g0 - g1 + g2) * 0.5
    u[4 * k + 3, i, j] = g2


@jit
def _filter_tile(u, i, j, g):
    """u[:, i, j] = G g G^T for one 3x3 filter g (any 2-D view, e.g. a reversed one)."""
    _filter_row(u, 0, i, j, g[0, 0], g[0, 1], g[0, 2])
    _filter_row(u, 1, i, j, (g[0, 0] + g[1, 0] + g[2, 0]) * 0.5, (g[0, 1] + g[1, 1] + g[2, 1]) * 0.5,
                (g[0, 2] + g[1, 2] + g[2, 2]) * 0.5)
    _filter_row(u, 2, i, j, (g[0, 0] - g[1, 0] + g[2, 0]) * 0.5, (g[0, 1] - g[1, 1] + g[2, 1]) * 0.5,
                (g[0, 2] - g[1, 2] + g[2, 2]) * 0.5)
    _filter_row(u, 3, i, j, g[2, 0], g[2, 1], g[2, 2])


@jit
def filter_transform(u, w, flip):
    """u (16, O, C) = G w[o, c] G^T for every (o, c); w (O, C, 3, 3). ``flip``: u (16, C, O) of the filter
    rotated by 180 degrees, w[o, c, ::-1, ::-1] (the input gradient is the stride-1 convolution of the output
    gradient with it, channels swapped, padding 2 - p)."""
    for o in range(w.shape[0]):
        for c in range(w.shape[1]):
            if flip:
                _filter_tile(u, c, o, w[o, c, ::-1, ::-1])
            else:
                _filter_tile(u, o, c, w[o, c])


@jit
def pad_planes(xp, src, col0, row, h, w, ph, pw):
    """xp (C, HP, WP) = 0, then the (C, H, W) image stored in src (C, cols) at src[c, col0 + r*row + q] (a
    contiguous sample: reshape(C, H*W), row = W; a block of the conv's "wide" layout: row = its row stride) at
    offset (ph, pw). Explicit loops (no array assignment)."""
    c_n, hp, wp = xp.shape
    for c in range(c_n):
        plane = xp[c].reshape(hp * wp)
        for p in range(hp * wp):
            plane[p] = 0
        for r in range(h):
            s, dst = src[c, col0 + r * row:], plane[(r + ph) * wp + pw:]
            for q in range(w):
                dst[q] = s[q]


@jit
def input_transform(v, t_count, t0, xp, th_n, tw_n):
    """v[xi, c, t0 + th*TW + tw] = (B^T d B)[xi] for the tiles d = xp[c, 2th:2th+4, 2tw:2tw+4] of one sample;
    v holds the 16 (C, t_count) planes, C*t_count + PLANE_PAD apart."""
    c_n = xp.shape[0]
    s = c_n * t_count + PLANE_PAD
    for c in range(c_n):
        for th in range(th_n):
            r0, r1, r2, r3 = xp[c, 2 * th], xp[c, 2 * th + 1], xp[c, 2 * th + 2], xp[c, 2 * th + 3]
            base = c * t_count + t0 + th * tw_n
            for tw in range(tw_n):
                q = 2 * tw
                # t = B^T d: row combinations, one per column b of the tile
                t00, t01, t02, t03 = r0[q] - r2[q], r0[q + 1] - r2[q + 1], r0[q + 2] - r2[q + 2], r0[q + 3] - r2[q + 3]
                t10, t11, t12, t13 = r1[q] + r2[q], r1[q + 1] + r2[q + 1], r1[q + 2] + r2[q + 2], r1[q + 3] + r2[q + 3]
                t20, t21, t22, t23 = r2[q] - r1[q], r2[q + 1] - r1[q + 1], r2[q + 2] - r1[q + 2], r2[q + 3] - r1[q + 3]
                t30, t31, t32, t33 = r1[q] - r3[q], r1[q + 1] - r3[q + 1], r1[q + 2] - r3[q + 2], r1[q + 3] - r3[q + 3]
                # V = t B: column combinations
                k = base + tw
                v[k] = t00 - t02
                v[s + k] = t01 + t02
                v[2 * s + k] = t02 - t01
                v[3 * s + k] = t01 - t03
                v[4 * s + k] = t10 - t12
                v[5 * s + k] = t11 + t12
                v[6 * s + k] = t12 - t11
                v[7 * s + k] = t11 - t13
                v[8 * s + k] = t20 - t22
                v[9 * s + k] = t21 + t22
                v[10 * s + k] = t22 - t21
                v[11 * s + k] = t21 - t23
                v[12 * s + k] = t30 - t32
                v[13 * s + k] = t31 + t32
                v[14 * s + k] = t32 - t31
                v[15 * s + k] = t31 - t33


@jit
def tile_products(m, u, v, o_n, c_n, t_count):
    """m[xi] (O, T) = u[xi] (O, C) @ v[xi] (C, T) for the 16 xi: one BLAS GEMM each (planes PLANE_PAD apart)."""
    sv, sm = c_n * t_count + PLANE_PAD, o_n * t_count + PLANE_PAD
    for xi in range(16):
        np.dot(u[xi], v[xi * sv:xi * sv + c_n * t_count].reshape(c_n, t_count),
               m[xi * sm:xi * sm + o_n * t_count].reshape(o_n, t_count))


@jit
def _output_columns(sc, m, s, k0, count):
    """sc[e] = (A^T M)[0, e] and sc[4 + e] = (A^T M)[1, e] over ``count`` tiles: 8 loops with few streams each
    (one loop writing 8 outputs from 16 planes is not vectorized: too many possible aliases)."""
    for e in range(4):
        a, m0, m4, m8 = sc[e], m[e * s + k0:], m[(4 + e) * s + k0:], m[(8 + e) * s + k0:]
        for t in range(count):
            a[t] = m0[t] + m4[t] + m8[t]
        c, m12 = sc[4 + e], m[(12 + e) * s + k0:]
        for t in range(count):
            c[t] = m4[t] - m8[t] - m12[t]


@jit
def _output_row(row, r0, r1, r2, r3, bias, act, alpha):
    """row[2tw] = act(r0 + r1 + r2 + bias), row[2tw + 1] = act(r1 - r2 - r3 + bias) at tile column tw
    (an odd width's last tile: its left column only)."""
    ow = row.size
    for tw in range(ow // 2):
        row[2 * tw] = activate(r0[tw] + r1[tw] + r2[tw] + bias, act, alpha)
        row[2 * tw + 1] = activate(r1[tw] - r2[tw] - r3[tw] + bias, act, alpha)
    if ow % 2 == 1:
        tw = ow // 2
        row[ow - 1] = activate(r0[tw] + r1[tw] + r2[tw] + bias, act, alpha)


@jit
def output_transform(y, m, t_count, t0, b, act, alpha, sc):
    """y[o, 2th + a, 2tw + e] = act((A^T M A)[a, e] + b[o]) for one sample's tiles (the parts inside y, OH x OW);
    m holds the 16 (O, t_count) planes O*t_count + PLANE_PAD apart; sc is an (8, >= TH*TW) scratch; an empty b
    (a zero-length view: kernels never allocate) means no bias."""
    o_n, oh, ow = y.shape
    s = o_n * t_count + PLANE_PAD
    th_n, tw_n = winograd_tiles(oh, ow)
    for o in range(o_n):
        bias = b[o] if b.size > 0 else np.float32(0)
        _output_columns(sc, m, s, o * t_count + t0, th_n * tw_n)
        for th in range(th_n):
            k = th * tw_n
            _output_row(y[o, 2 * th], sc[0, k:], sc[1, k:], sc[2, k:], sc[3, k:], bias, act, alpha)
            if 2 * th + 1 < oh:
                _output_row(y[o, 2 * th + 1], sc[4, k:], sc[5, k:], sc[6, k:], sc[7, k:], bias, act, alpha)
