"""Winograd F(4x4, 3x3) building blocks for the stride-1 3x3 convolution (kernels/cpu/conv.py).

Per 4x4 output tile, from the 6x6 input tile d it reads (Lavin & Gray, 2015; points 0, 1, -1, 2, -2, inf):
    U = G g G^T (6x6 per (o, c)),  V = B^T d B (6x6 per (c, tile)),  M[xi] = sum_c U[xi, o, c] V[xi, c, tile],
    Y = A^T M A (4x4 per (o, tile)), with
    G = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6], [1/24, 1/12, 1/6], [1/24, -1/12, 1/6], [0, 0, 1]],
    B^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
           [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]].
The 36 products over c are 36 GEMMs (O, C) @ (C, T): 36 multiplies per 16 outputs instead of 144 (4x fewer;
F(2x2, 3x3) saved 2.25x and lost to this one, kernels/lab/winograd.py). fp32 error: ~6e-6 of the largest output
at 64 channels (F(2x2, 3x3): ~1e-6).
Layouts: U (36, O, C); V (36, C, T), M (36, O, T) and the output transform's S (24, O, T) flat, T tiles of a block
of samples, tile t = (i*TH + th)*TW + tw for sample i of the block, planes PLANE_PAD elements further apart than
their size (planes a power-of-two bytes apart put the streams of a transform in the same L1 sets: the F(2x2, 3x3)
input transform of a 32x16x16 block took 97 us instead of 18 us); a sample's padded planes xp (C, 4*TH + 2,
4*TW + 2) hold x at offset (ph, pw) and zeros elsewhere. TH = ceil(OH / 4), TW = ceil(OW / 4).
Multiples by 2, 4 and 5 are written as additions: the kernels serve float32 and float64 arrays alike.
"""

import numpy as np

from kernels.cpu._jit import jit
from kernels.cpu.activation import activate
from kernels.shapes import WINOGRAD_PLANE_PAD as PLANE_PAD
from kernels.shapes import WINOGRAD_TILE as TILE


@jit
def winograd_tiles(oh, ow):
    """(TH, TW): 4x4 output tiles per column / row."""
    return (oh + TILE - 1) // TILE, (ow + TILE - 1) // TILE


@jit
def _g3(a, b, c):
    """G (a, b, c): the 6 values of a filter column (or row) transformed by G."""
    return a / 4, -(a + b + c) / 6, -(a - b + c) / 6, a / 24 + b / 12 + c / 6, a / 24 - b / 12 + c / 6, c / 1


@jit
def _filter_tile(u, i, j, g):
    """u[:, i, j] = G g G^T for one 3x3 filter g (any 2-D view, e.g. a reversed one)."""
    col0, col1, col2 = _g3(g[0, 0], g[1, 0], g[2, 0]), _g3(g[0, 1], g[1, 1], g[2, 1]), _g3(g[0, 2], g[1, 2], g[2, 2])
    for r in range(6):
        row = _g3(col0[r], col1[r], col2[r])
        for e in range(6):
            u[6 * r + e, i, j] = row[e]


@jit
def filter_transform(u, w, flip):
    """u (36, O, C) = G w[o, c] G^T for every (o, c); w (O, C, 3, 3). ``flip``: u (36, C, O) of the filter
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
def gather_tiles(d, t_count, t0, xp, th_n, tw_n):
    """d[6k + j, c, t0 + th*TW + tw] = xp[c, 4th + k, 4tw + j]: one sample's 6x6 input tiles, untransformed, as 36
    planes (C, t_count) C*t_count + PLANE_PAD apart (input_transform turns them into V in place). Flat indices:
    a view per plane cost 2x (kernels/lab/winograd.py)."""
    c_n = xp.shape[0]
    s = c_n * t_count + PLANE_PAD
    for c in range(c_n):
        for th in range(th_n):
            base = c * t_count + t0 + th * tw_n
            for k in range(6):
                row = xp[c, TILE * th + k]
                p = 6 * k * s + base
                for tw in range(tw_n):
                    q = TILE * tw
                    d[p + tw] = row[q]
                    d[p + s + tw] = row[q + 1]
                    d[p + 2 * s + tw] = row[q + 2]
                    d[p + 3 * s + tw] = row[q + 3]
                    d[p + 4 * s + tw] = row[q + 4]
                    d[p + 5 * s + tw] = row[q + 5]


@jit
def _planes6(buf, s, first, step):
    """The tails of buf from planes first + i*step, i = 0..5 (planes s apart; a plane past the end: empty)."""
    return (buf[first * s:], buf[(first + step) * s:], buf[(first + 2 * step) * s:], buf[(first + 3 * step) * s:],
            buf[(first + 4 * step) * s:], buf[(first + 5 * step) * s:])


@jit
def _bt_planes(dst, src, s, size, step, other):
    """For p = 0..5: dst planes p*other + i*step (i = 0..5) = B^T applied across the src planes p*other + k*step
    (k = 0..5), elementwise over ``size`` entries (planes s apart). One loop per output plane, reading 3-4 planes:
    vectorized. B^T's multiples by 2, 4 and 5 are additions (the kernels serve float32 and float64)."""
    for p in range(6):
        x0, x1, x2, x3, x4, x5 = _planes6(src, s, p * other, step)
        y0, y1, y2, y3, y4, y5 = _planes6(dst, s, p * other, step)
        for t in range(size):
            a = x0[t] - x2[t]
            a = a + a
            y0[t] = a + a + x4[t] - x2[t]
        for t in range(size):
            a = x1[t] + x2[t]
            a = a + a
            y1[t] = x3[t] + x4[t] - a - a
        for t in range(size):
            a = x1[t] - x2[t]
            a = a + a
            y2[t] = x4[t] - x3[t] + a + a
        for t in range(size):
            a = x3[t] - x1[t]
            y3[t] = x4[t] - x2[t] + a + a
        for t in range(size):
            a = x3[t] - x1[t]
            y4[t] = x4[t] - x2[t] - a - a
        for t in range(size):
            a = x1[t] - x3[t]
            a = a + a
            y5[t] = a + a + x5[t] - x3[t]


@jit
def input_transform(v, d, size):
    """V = B^T D B for a block: v holds the gathered tiles D (gather_tiles; planes 6k + j) on entry and V (planes
    6i + e) on return, d is scratch for B^T D (planes 6i + j); ``size`` = C*t_count entries per plane, planes
    size + PLANE_PAD apart. Two vectorized passes over whole planes (kernels/lab/winograd.py)."""
    s = size + PLANE_PAD
    _bt_planes(d, v, s, size, 6, 1)    # B^T D: across k
    _bt_planes(v, d, s, size, 1, 6)    # (B^T D) B: across j


@jit
def tile_products(m, u, v, o_n, c_n, t_count):
    """m[xi] (O, T) = u[xi] (O, C) @ v[xi] (C, T) for the 36 xi: one BLAS GEMM each (planes PLANE_PAD apart)."""
    sv, sm = c_n * t_count + PLANE_PAD, o_n * t_count + PLANE_PAD
    for xi in range(36):
        np.dot(u[xi], v[xi * sv:xi * sv + c_n * t_count].reshape(c_n, t_count),
               m[xi * sm:xi * sm + o_n * t_count].reshape(o_n, t_count))


@jit
def output_columns(sc, m, size):
    """sc[4e + a] = (A^T M)[a, e], elementwise over the ``size`` = O*T entries of every plane (M's 36 planes,
    S's 24, both size + PLANE_PAD apart): one loop per output plane, reading 4-5 planes (a loop writing several
    planes from many is not vectorized: too many possible aliases)."""
    s = size + PLANE_PAD
    for e in range(6):
        m0, m1, m2 = m[e * s:], m[(6 + e) * s:], m[(12 + e) * s:]
        m3, m4, m5 = m[(18 + e) * s:], m[(24 + e) * s:], m[(30 + e) * s:]
        y0, y1, y2, y3 = sc[4 * e * s:], sc[(4 * e + 1) * s:], sc[(4 * e + 2) * s:], sc[(4 * e + 3) * s:]
        for t in range(size):
            y0[t] = m0[t] + m1[t] + m2[t] + m3[t] + m4[t]
        for t in range(size):
            d = m3[t] - m4[t]
            y1[t] = m1[t] - m2[t] + d + d
        for t in range(size):
            d = m3[t] + m4[t]
            d = d + d
            y2[t] = m1[t] + m2[t] + d + d
        for t in range(size):
            d = m3[t] - m4[t]
            d = d + d
            d = d + d
            y3[t] = m1[t] - m2[t] + d + d + m5[t]


@jit
def _at6(m0, m1, m2, m3, m4, m5):
    """A^T (m0, ..., m5): 4 outputs of one row of A^T M."""
    s12, d12, s34, d34 = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    d2 = d34 + d34
    s4 = s34 + s34
    d4 = d2 + d2
    return m0 + s12 + s34, d12 + d2, s12 + s4 + s4, d12 + d4 + d4 + m5


@jit
def output_transform(y, sc, t_count, t0, b, act, alpha):
    """y[o, 4th + a, 4tw + e] = act((A^T M A)[a, e] + b[o]) for one sample's tiles (the parts inside y, OH x OW),
    from S = output_columns(M) of the block: 24 (O, t_count) planes O*t_count + PLANE_PAD apart, row a of a tile
    in S planes 4e + a; an empty b (a zero-length view: kernels never allocate) means no bias. Loop nests without
    helper calls, the last tile column of a width that is not a multiple of 4 in a nest of its own: a helper call
    per output row, or that tile in the same nest, ran 2-2.5x slower (kernels/lab/winograd.py)."""
    o_n, oh, ow = y.shape
    s = o_n * t_count + PLANE_PAD
    th_n, tw_n = winograd_tiles(oh, ow)
    full = ow // TILE
    for o in range(o_n):
        bias = b[o] if b.size > 0 else np.float32(0)
        for th in range(th_n):
            k = o * t_count + t0 + th * tw_n
            for a in range(min(TILE, oh - TILE * th)):
                row = y[o, TILE * th + a]
                s0, s1, s2 = sc[a * s + k:], sc[(4 + a) * s + k:], sc[(8 + a) * s + k:]
                s3, s4, s5 = sc[(12 + a) * s + k:], sc[(16 + a) * s + k:], sc[(20 + a) * s + k:]
                for tw in range(full):
                    y0, y1, y2, y3 = _at6(s0[tw], s1[tw], s2[tw], s3[tw], s4[tw], s5[tw])
                    q = TILE * tw
                    row[q] = activate(y0 + bias, act, alpha)
                    row[q + 1] = activate(y1 + bias, act, alpha)
                    row[q + 2] = activate(y2 + bias, act, alpha)
                    row[q + 3] = activate(y3 + bias, act, alpha)
    if full == tw_n:
        return
    q = TILE * full
    for o in range(o_n):
        bias = b[o] if b.size > 0 else np.float32(0)
        for th in range(th_n):
            k = o * t_count + t0 + th * tw_n + full
            for a in range(min(TILE, oh - TILE * th)):
                y0, y1, y2, _ = _at6(sc[a * s + k], sc[(4 + a) * s + k], sc[(8 + a) * s + k],
                                     sc[(12 + a) * s + k], sc[(16 + a) * s + k], sc[(20 + a) * s + k])
                row = y[o, TILE * th + a]
                row[q] = activate(y0 + bias, act, alpha)
                if q + 1 < ow:
                    row[q + 1] = activate(y1 + bias, act, alpha)
                if q + 2 < ow:
                    row[q + 2] = activate(y2 + bias, act, alpha)


# ----------------------------------------------------------------------------- weight gradient
# Y = A^T M A with M[o] = sum_c U[o, c] * V[c] per tile, so dM = A dY A^T (6x6 from the 4x4 output-gradient tile),
# dU[xi] (O, C) = sum_tiles dM[xi] (O, T) @ V[xi]^T (T, C): 36 GEMMs over the tiles, and dw = G^T dU G (3x3).
# A = (A^T)^T: A g = (g0, g0 + g1 + g2 + g3, g0 - g1 + g2 - g3, g0 + 2g1 + 4g2 + 8g3, g0 - 2g1 + 4g2 - 8g3, g3).


@jit
def gather_output_tiles(z, t_count, t0, g, col0, row, oh, ow, th_n, tw_n):
    """z[4a + b, o, t0 + th*TW + tw] = g[o, col0 + (4th + a)*row + 4tw + b], 0 outside OH x OW: one sample's 4x4
    output-gradient tiles as 16 planes (O, t_count) O*t_count + PLANE_PAD apart; g (O, cols) in the conv's wide
    layout (row >= OW + 2 columns per output row, zero past OW)."""
    o_n = g.shape[0]
    s = o_n * t_count + PLANE_PAD
    safe = min(tw_n, row // TILE)   # tiles whose 4 columns lie inside the wide row (its tail columns are zero)
    for o in range(o_n):
        for th in range(th_n):
            base = o * t_count + t0 + th * tw_n
            for a in range(TILE):
                p = TILE * a * s + base
                r = TILE * th + a
                if r >= oh:
                    for b in range(TILE):
                        for tw in range(tw_n):
                            z[p + b * s + tw] = 0
                    continue
                src = g[o, col0 + r * row:]
                for tw in range(safe):
                    q = TILE * tw
                    z[p + tw] = src[q]
                    z[p + s + tw] = src[q + 1]
                    z[p + 2 * s + tw] = src[q + 2]
                    z[p + 3 * s + tw] = src[q + 3]
                for tw in range(safe, tw_n):
                    for b in range(TILE):
                        q = TILE * tw + b
                        z[p + b * s + tw] = src[q] if q < ow else 0


@jit
def _a_planes(dst, src, s, size, count, other_in, step_in, other_out, step_out):
    """For p < count: dst planes p*other_out + i*step_out (i = 0..5) = A applied across the src planes
    p*other_in + k*step_in (k = 0..3), elementwise over ``size`` entries (planes s apart); one loop per output."""
    for p in range(count):
        x0, x1, x2, x3, _, _ = _planes6(src, s, p * other_in, step_in)
        y0, y1, y2, y3, y4, y5 = _planes6(dst, s, p * other_out, step_out)
        for t in range(size):
            y0[t] = x0[t]
        for t in range(size):
            y1[t] = x0[t] + x1[t] + x2[t] + x3[t]
        for t in range(size):
            y2[t] = x0[t] - x1[t] + x2[t] - x3[t]
        for t in range(size):
            h = x3[t] + x3[t] + x2[t]
            h = h + h + x1[t]
            y3[t] = h + h + x0[t]
        for t in range(size):
            h = x2[t] - x3[t] - x3[t]
            h = h + h - x1[t]
            y4[t] = h + h + x0[t]
        for t in range(size):
            y5[t] = x3[t]


@jit
def output_grad_transform(z, d, size):
    """dM = A dY A^T for a block: z holds the gathered tiles dY (gather_output_tiles; planes 4a + b) on entry and
    dM (planes 6i + j) on return, d is scratch for A dY (planes 4i + b); ``size`` = O*t_count, planes
    size + PLANE_PAD apart."""
    s = size + PLANE_PAD
    _a_planes(d, z, s, size, 4, 1, 4, 1, 4)    # A dY: across a
    _a_planes(z, d, s, size, 6, 4, 1, 6, 1)    # (A dY) A^T: across b


@jit
def _gt6(u0, u1, u2, u3, u4, u5):
    """G^T (u0, ..., u5): 3 values."""
    return (u0 / 4 - (u1 + u2) / 6 + (u3 + u4) / 24, (u2 - u1) / 6 + (u3 - u4) / 12,
            (u3 + u4) / 6 - (u1 + u2) / 6 + u5)


@jit
def filter_grad(dw, du):
    """dw[o, c] += G^T du[:, o, c] G for every (o, c); du (36, O, C), dw (O, C, 3, 3)."""
    for o in range(dw.shape[0]):
        for c in range(dw.shape[1]):
            r0 = _gt6(du[0, o, c], du[1, o, c], du[2, o, c], du[3, o, c], du[4, o, c], du[5, o, c])
            r1 = _gt6(du[6, o, c], du[7, o, c], du[8, o, c], du[9, o, c], du[10, o, c], du[11, o, c])
            r2 = _gt6(du[12, o, c], du[13, o, c], du[14, o, c], du[15, o, c], du[16, o, c], du[17, o, c])
            r3 = _gt6(du[18, o, c], du[19, o, c], du[20, o, c], du[21, o, c], du[22, o, c], du[23, o, c])
            r4 = _gt6(du[24, o, c], du[25, o, c], du[26, o, c], du[27, o, c], du[28, o, c], du[29, o, c])
            r5 = _gt6(du[30, o, c], du[31, o, c], du[32, o, c], du[33, o, c], du[34, o, c], du[35, o, c])
            for j in range(3):
                col = _gt6(r0[j], r1[j], r2[j], r3[j], r4[j], r5[j])
                for i in range(3):
                    dw[o, c, i, j] += col[i]
