"""2-D convolution as im2col + BLAS GEMM in cache-sized blocks, the batch split into one chunk per thread.

Chunk t (samples n0..n1; one per thread, run by kernels/cpu/_threads.py run_chunks; BLAS single-threaded)
works through its samples in blocks of G (G = col.size // (nchunks*C*KH*KW*S), S columns per sample:
kernels/shapes.py), each block in the chunk's slot of the workspaces, so im2col -> GEMM -> epilogue stays in
cache:
forward:  col_t = im2col(x[block]) (C*KH*KW, G*S);  ws_y_t = W2 @ col_t (O, G*S)
          y[n,o,oh,ow] = act(ws_y_t[o, column of (n, oh, ow)] + b[o])   (epilogue: bias, act, NCHW)
          (3x3 stride 1 with >= 16 channels: Winograd F(4x4, 3x3) instead, kernels/cpu/winograd.py)
backward: col_t as in forward (still in the slot when the chunk is one block, recomputed otherwise; stride 1
          with >= TAPS_MIN_CHANNELS channels, O <= C: not built, each tap's rows read from the padded planes);
          g_t = dy * act'(y) in ws_y_t's layout (padding columns 0);  dwpart_t += col_t @ g_t.T,
          dbpart_t += row sums of g_t;  dx[block] = col2im(W2.T @ g_t) if need_dx (or Winograd)
          then dw += sum_t dwpart_t.T and db += sum_t dbpart_t (serial, after the chunks).
W2 = w.reshape(O, C*KH*KW); x (N,C,H,W), w (O,C,KH,KW), b (O,), y/dy (N,O,OH,OW). The column layouts
(stride 1: "wide" grid over the chunk's padded plane ws_xp[t]; other strides: standard im2col) and the
workspaces: kernels/shapes.py conv2d_workspace_shapes. Per-sample work runs in serial helpers: numba
vectorizes their loops. Each layout has its own chunk kernel, chosen in Python by conv2d_forward /
conv2d_backward, so a model compiles only what it runs (cold compile: kernels/lab/compile_time.py).
"""

import numpy as np

from kernels.codes import ACT_NONE
from kernels.cpu._blas import gemm_into
from kernels.cpu._jit import jit
from kernels.cpu._threads import chunk_span, release_workers, run_chunks
from kernels.cpu.activation import activate, activation_grad
from kernels.cpu.im2col import col2im_sample, im2col_sample
from kernels.cpu.winograd import (
    TILE,
    filter_grad,
    filter_transform,
    gather_output_tiles,
    gather_tiles,
    input_transform,
    output_columns,
    output_grad_transform,
    output_transform,
    pad_planes,
    tile_products,
    winograd_tiles,
)
from kernels.shapes import WINOGRAD_PLANE_PAD as PLANE_PAD
from kernels.shapes import (
    conv2d_winograd,
    conv2d_winograd_dw,
    conv2d_winograd_dx,
    conv2d_workspace_shapes,
    winograd_slot_size,
)

__all__ = ["conv2d_workspace_shapes", "conv2d_forward", "conv2d_backward"]

# Input channels from which the stride-1 backward takes dw tap by tap from the padded planes instead of
# rebuilding the im2col block (when O <= C): dw-only backward at batch 64, 16->16 28x28 2.19 -> 1.70 ms, 32->32
# 14x14 2.03 -> 1.64 ms, 64->64 7x7 equal; with LeNet's 6 channels the 25 thin tap GEMMs lost 5% of a LeNet-5
# step, and 32->64 16x16 (O > C) lost 4.4 -> 5.6 ms.
TAPS_MIN_CHANNELS = 16


def _dw_by_taps(c, o):
    return TAPS_MIN_CHANNELS <= c and o <= c


@jit
def _block(buf, rows, t, cap, cols):
    """The (rows, cols) matrix at the start of slot t of a flat workspace of slots of rows*cap elements."""
    return buf[t * rows * cap:t * rows * cap + rows * cols].reshape(rows, cols)


@jit
def _grad_slot(ws_dw, ckk, o, t):
    """Chunk t's part of ws_dw: the dw partial (C*KH*KW, O), a block's product (same shape), the db partial (O,)."""
    base = t * (2 * ckk + 1) * o
    part = ws_dw[base:base + ckk * o].reshape(ckk, o)
    prod = ws_dw[base + ckk * o:base + 2 * ckk * o].reshape(ckk, o)
    return part, prod, ws_dw[base + 2 * ckk * o:base + (2 * ckk + 1) * o]


@jit
def _accumulate_block(part, prod, dbp, col_b, g_b, first):
    """part (=|+=) col_b @ g_b.T and dbp (=|+=) row sums of g_b: a block's dw and db contributions."""
    np.dot(col_b, g_b.T, part if first else prod)
    if not first:
        for r in range(part.shape[0]):
            for oi in range(part.shape[1]):
                part[r, oi] += prod[r, oi]
    _accumulate_db(dbp, g_b, first)


@jit
def _accumulate_db(dbp, g_b, first):
    """dbp (=|+=) row sums of g_b (its padding columns are zero)."""
    for oi in range(g_b.shape[0]):
        acc = g_b[oi, 0] * 0
        for q in range(g_b.shape[1]):
            acc += g_b[oi, q]
        dbp[oi] = acc if first else dbp[oi] + acc


@jit
def _accumulate_taps(part, xp, g_s, kh, kw, first):
    """part (C*KH*KW, O) (=|+=) one sample's wide im2col matrix @ g_s.T without building it: its row (c, i, j)
    is the run xp[c].flat[i*Wp + j:][:per] of the padded plane, so each tap is one BLAS GEMM on strided views,
    part[(c, i, j), :] (+)= xp[c].flat[i*Wp + j:][:per] @ g_s.T (g_s (O, per), per = OH*Wp; its padding
    columns are zero). Cheaper than copying the 9x larger im2col matrix first (kernels/lab/conv_blocks.py)."""
    c, hp, wp = xp.shape
    per = g_s.shape[1]
    planes = xp.reshape(c, hp * wp)
    taps = part.reshape(c, kh * kw, part.shape[1])
    for i in range(kh):
        for j in range(kw):
            off = i * wp + j
            gemm_into(taps[:, i * kw + j, :], planes[:, off:off + per], g_s.T, 0.0 if first else 1.0)


@jit
def _clear_slot(part, dbp):
    """An empty chunk's partials are zero."""
    for r in range(part.shape[0]):
        for oi in range(part.shape[1]):
            part[r, oi] = 0
    for oi in range(dbp.size):
        dbp[oi] = 0


@jit
def _im2col_wide_sample(col, col0, xp, x, kh, kw, ph, pw, oh):
    """Pad one sample into xp (C, Hp, Wp), then col[(c*KH+i)*KW+j, col0 + t] = xp[c].flat[i*Wp + j + t].

    Explicit loops, no array assignments: those compile numba's shape-mismatch error formatting."""
    c, hp, wp = xp.shape
    h, w = x.shape[1], x.shape[2]
    run = oh * wp
    for ci in range(c):
        plane = xp[ci].reshape(hp * wp)
        for p in range(hp * wp):
            plane[p] = 0
        for r in range(h):
            src, dst = x[ci, r], plane[(r + ph) * wp + pw:]
            for q in range(w):
                dst[q] = src[q]
        for i in range(kh):
            for j in range(kw):
                src, dst = plane[i * wp + j:], col[(ci * kh + i) * kw + j, col0:]
                for t in range(run):
                    dst[t] = src[t]


@jit
def _col2im_wide_sample(dx, dxp, dcol, col0, kh, kw, ph, pw, oh):
    """Adjoint of _im2col_wide_sample: accumulate the runs into dxp, then crop it into dx (C, H, W)."""
    c, hp, wp = dxp.shape
    h, w = dx.shape[1], dx.shape[2]
    run = oh * wp
    for ci in range(c):
        plane = dxp[ci].reshape(hp * wp)
        for p in range(hp * wp):
            plane[p] = 0
        for i in range(kh):
            for j in range(kw):
                src, dst = dcol[(ci * kh + i) * kw + j, col0:], plane[i * wp + j:]
                for t in range(run):
                    dst[t] += src[t]
        for r in range(h):
            src, dst = plane[(r + ph) * wp + pw:], dx[ci, r]
            for q in range(w):
                dst[q] = src[q]


@jit
def _epilogue(y, ws_y, b, col0, row, act, alpha):
    """One sample: y[o, a, q] = act(ws_y[o, col0 + a*row + q] + b[o])."""
    for oi in range(y.shape[0]):
        bias = b[oi]
        for a in range(y.shape[1]):
            src = ws_y[oi, col0 + a * row:col0 + a * row + y.shape[2]]
            dst = y[oi, a]
            for q in range(dst.size):
                dst[q] = activate(src[q] + bias, act, alpha)


@jit
def _act_grad(ws_g, dy, y, col0, row, act, alpha):
    """One sample: ws_g[o, col0 + a*row + q] = dy * act'(y); the row's padding columns get 0."""
    for oi in range(y.shape[0]):
        for a in range(y.shape[1]):
            base = col0 + a * row
            g = ws_g[oi, base:base + row]
            d, yy = dy[oi, a], y[oi, a]
            for q in range(yy.size):
                g[q] = activation_grad(d[q], yy[q], act, alpha)
            for q in range(yy.size, row):
                g[q] = 0


def _per_block(col, ckk, per, nchunks):
    """G: the samples one slot of ``col`` holds (kernels/shapes.py conv2d_workspace_shapes)."""
    return col.size // (nchunks * ckk * per)


def conv2d_forward(y, col, ws_y, ws_xp, x, w, b, sh, sw, ph, pw, act, alpha, nchunks):
    """Stride 1: the "wide" kernel; other strides: the standard one. Chosen here, in Python, so that a model
    compiles only the layouts it uses (a jitted switch compiles both: ~2 s more of cold compile). One chunk
    runs serially: entering a parallel region costs ~50 us, a batch-1 layer's whole work."""
    ckk = w.size // w.shape[0]
    if conv2d_winograd(x.shape, w.shape, sh, sw):
        group = _per_block(col, ckk, y.shape[2] * ws_xp.shape[3], nchunks)
        o, c = w.shape[0], w.shape[1]
        filter_transform(ws_y[ws_y.size - 36 * o * c:].reshape(36, o, c), w, False)
        args = (y, ws_y, ws_xp, x, b, ph, pw, act, alpha, nchunks, group)
        run_chunks(_forward_winograd_chunk, args, nchunks)
    elif sh == 1 and sw == 1:
        group = _per_block(col, ckk, y.shape[2] * ws_xp.shape[3], nchunks)
        args = (y, col, ws_y, ws_xp, x, w, b, ph, pw, act, alpha, nchunks, group)
        run_chunks(_forward_wide_chunk, args, nchunks)
    else:
        group = _per_block(col, ckk, y.shape[2] * y.shape[3], nchunks)
        args = (y, col, ws_y, x, w, b, sh, sw, ph, pw, act, alpha, nchunks, group)
        run_chunks(_forward_strided_chunk, args, nchunks)


@jit
def _forward_wide_chunk(y, col, ws_y, ws_xp, x, w, b, ph, pw, act, alpha, nchunks, group, t, sync):
    """Chunk t of the stride-1 forward: per block, im2col (wide), one GEMM, the epilogue."""
    release_workers(sync, t)
    n, o, oh, _ = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    row = ws_xp.shape[3]   # GEMM columns per output row
    per = oh * row         # GEMM columns per sample
    w2 = w.reshape(o, ckk)
    n0, n1 = chunk_span(n, nchunks, t)
    for a in range(n0, n1, group):
        m = min(n1 - a, group)
        col_b, y_b = _block(col, ckk, t, group * per, m * per), _block(ws_y, o, t, group * per, m * per)
        for i in range(m):
            _im2col_wide_sample(col_b, i * per, ws_xp[t], x[a + i], kh, kw, ph, pw, oh)
        np.dot(w2, col_b, y_b)
        for i in range(m):
            _epilogue(y[a + i], y_b, b, i * per, row, act, alpha)



_slot_size = jit(winograd_slot_size)


@jit
def _winograd_views(ws, t, cap, c_in, c_out):
    """Chunk t's Winograd views in its slot of ws for blocks of up to ``cap`` tiles (kernels/shapes.py
    winograd_slot_size): V (36 planes of c_in x tiles), the transforms' scratch D (36 of max(c_in, c_out)), M and
    S (36 and 24 of c_out)."""
    size = _slot_size(c_in, c_out, cap)
    slot = ws[t * size:(t + 1) * size]
    v_end = 36 * (c_in * cap + PLANE_PAD)
    d_end = v_end + 36 * (max(c_in, c_out) * cap + PLANE_PAD)
    m_end = d_end + 36 * (c_out * cap + PLANE_PAD)
    return slot[:v_end], slot[v_end:d_end], slot[d_end:m_end], slot[m_end:]


@jit
def _padded_planes(plane_t, ch, th_n, tw_n):
    """ch padded planes (ch, 4*TH + 2, 4*TW + 2) at the start of a chunk's ws_xp plane."""
    hp, wp = TILE * th_n + 2, TILE * tw_n + 2
    return plane_t.reshape(plane_t.size)[:ch * hp * wp].reshape(ch, hp, wp)


@jit
def _forward_winograd_chunk(y, ws_y, ws_xp, x, b, ph, pw, act, alpha, nchunks, group, t, sync):
    """Chunk t of the Winograd F(4x4, 3x3) forward, per block: pad + input transform of each sample into V, the
    36 tile GEMMs into M, the output transform (its column stage S over the block, then per sample the rows +
    bias + act). V, M and S are in the chunk's slot of ws_y, U (the transformed filter) at its end
    (kernels/shapes.py conv2d_workspace_shapes)."""
    release_workers(sync, t)
    n, o, oh, ow = y.shape
    c = x.shape[1]
    th_n, tw_n = winograd_tiles(oh, ow)
    per = th_n * tw_n
    u = ws_y[ws_y.size - 36 * o * c:].reshape(36, o, c)
    v, d, m, sc = _winograd_views(ws_y, t, group * per, c, o)
    xp = _padded_planes(ws_xp[t], c, th_n, tw_n)
    n0, n1 = chunk_span(n, nchunks, t)
    for a in range(n0, n1, group):
        count = min(n1 - a, group) * per
        for i in range(min(n1 - a, group)):
            pad_planes(xp, x[a + i].reshape(c, x.shape[2] * x.shape[3]), 0, x.shape[3], x.shape[2], x.shape[3], ph, pw)
            gather_tiles(v, count, i * per, xp, th_n, tw_n)
        input_transform(v, d, c * count)
        tile_products(m, u, v, o, c, count)
        output_columns(sc, m, o * count)
        for i in range(min(n1 - a, group)):
            output_transform(y[a + i], sc, count, i * per, b, act, alpha)



@jit
def _forward_strided_chunk(y, col, ws_y, x, w, b, sh, sw, ph, pw, act, alpha, nchunks, group, t, sync):
    """Chunk t of the strided forward: per block, im2col, one GEMM, the epilogue."""
    release_workers(sync, t)
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    per = oh * ow
    w2 = w.reshape(o, ckk)
    n0, n1 = chunk_span(n, nchunks, t)
    for a in range(n0, n1, group):
        m = min(n1 - a, group)
        col_b, y_b = _block(col, ckk, t, group * per, m * per), _block(ws_y, o, t, group * per, m * per)
        for i in range(m):
            im2col_sample(col_b, i * per, x[a + i], kh, kw, sh, sw, ph, pw, oh, ow)
        np.dot(w2, col_b, y_b)
        for i in range(m):
            _epilogue(y[a + i], y_b, b, i * per, ow, act, alpha)



def conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, sh, sw, ph, pw, act, alpha,
                    need_dx, nchunks):
    """The layout's kernel (see conv2d_forward), then the serial reduction of the per-chunk partials."""
    ckk = w.size // w.shape[0]
    winograd_dw = need_dx and conv2d_winograd_dw(x.shape, w.shape, sh, sw)
    if need_dx and conv2d_winograd_dx(x.shape, w.shape, sh, sw):
        group = _per_block(col, ckk, y.shape[2] * ws_dxp.shape[3], nchunks)
        o, c = w.shape[0], w.shape[1]
        filter_transform(ws_g[ws_g.size - 36 * o * c:].reshape(36, c, o), w, True)
        args = (dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, x, y, ph, pw, act, alpha, nchunks, group, winograd_dw)
        run_chunks(_backward_winograd_chunk, args, nchunks)
    elif sh == 1 and sw == 1:
        group = _per_block(col, ckk, y.shape[2] * ws_dxp.shape[3], nchunks)
        fresh = conv2d_winograd(x.shape, w.shape, sh, sw)   # the forward left no im2col block in col
        args = (dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, ph, pw, act, alpha, need_dx, nchunks, group,
                fresh, ws_dxp if _dw_by_taps(x.shape[1], w.shape[0]) else None)
        run_chunks(_backward_wide_chunk, args, nchunks)
    else:
        group = _per_block(col, ckk, y.shape[2] * y.shape[3], nchunks)
        args = (dx, ws_dcol, ws_g, ws_dw, dy, col, x, w, y, sh, sw, ph, pw, act, alpha, need_dx, nchunks, group)
        run_chunks(_backward_strided_chunk, args, nchunks)
    if winograd_dw:
        _reduce_winograd_grads(dw, db, ws_dw, nchunks)
    else:
        _reduce_grads(dw, db, ws_dw, nchunks)


@jit
def _backward_wide_chunk(dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, ph, pw, act, alpha, need_dx, nchunks,
                         group, fresh, taps_xp, t, sync):
    """Chunk t of the stride-1 backward, per block: col (kept, or recomputed when the chunk has several blocks or
    ``fresh``: the forward was Winograd), g, its dw/db partials, dcol and col2im (wide). ``taps_xp``: ws_dxp when
    dw may be taken tap by tap (_dw_by_taps), else None -- numba then prunes that branch, and a model without such
    layers (LeNet-5) does not compile it (~1 s of cold compile)."""
    release_workers(sync, t)
    n, o, oh, _ = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    row = ws_dxp.shape[3]
    per = oh * row
    w2 = w.reshape(o, ckk)
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    n0, n1 = chunk_span(n, nchunks, t)
    # the block's im2col matrix is not in the slot (several blocks per chunk, or a Winograd forward): rebuild
    # it, or (taps_xp) read its rows in place (_accumulate_taps)
    recompute = fresh or n1 - n0 > group
    part, prod, dbp = _grad_slot(ws_dw, ckk, o, t)
    if n1 == n0:
        _clear_slot(part, dbp)
    for a in range(n0, n1, group):
        m = min(n1 - a, group)
        col_b, g_b = _block(col, ckk, t, group * per, m * per), _block(ws_g, o, t, group * per, m * per)
        for i in range(m):
            _act_grad(g_b, dy[a + i], y[a + i], i * per, row, act, alpha)
            if taps_xp is not None and recompute:
                pad_planes(taps_xp[t], x[a + i].reshape(c, h * wd), 0, wd, h, wd, ph, pw)
                _accumulate_taps(part, taps_xp[t], g_b[:, i * per:(i + 1) * per], kh, kw, a == n0 and i == 0)
            elif recompute:
                _im2col_wide_sample(col_b, i * per, ws_dxp[t], x[a + i], kh, kw, ph, pw, oh)
        if taps_xp is not None and recompute:
            _accumulate_db(dbp, g_b, a == n0)
        else:
            _accumulate_block(part, prod, dbp, col_b, g_b, a == n0)
        if need_dx:
            dcol_b = _block(ws_dcol, ckk, t, group * per, m * per)
            np.dot(w2.T, g_b, dcol_b)
            for i in range(m):
                _col2im_wide_sample(dx[a + i], ws_dxp[t], dcol_b, i * per, kh, kw, ph, pw, oh)



@jit
def _backward_winograd_chunk(dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, x, y, ph, pw, act, alpha, nchunks, group,
                             winograd_dw, t, sync):
    """Chunk t of the stride-1 3x3 backward with Winograd dx, per block: g (in the ws_dcol slot), the dw and db
    partials, then dx = the Winograd convolution of g with the rotated filter (U', transformed by the caller, at the
    end of ws_g; V', M' and S' in the chunk's slot of ws_g). dw: if ``winograd_dw`` (conv2d_winograd_dw),
    dU += dM V^T over the block's tiles (x's V and g's dM built in the space of M' and V' first), else tap by tap
    from each sample's padded planes (_accumulate_taps)."""
    release_workers(sync, t)
    n, o, oh, ow = y.shape
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    row = ws_dxp.shape[3]
    per = oh * row
    th_x, tw_x = winograd_tiles(h, wd)       # tiles of dx
    th_y, tw_y = winograd_tiles(oh, ow)      # tiles of y (the weight gradient's)
    th_m, tw_m = max(th_x, th_y), max(tw_x, tw_y)
    per_x, per_y = th_x * tw_x, th_y * tw_y
    u = ws_g[ws_g.size - 36 * o * c:].reshape(36, c, o)
    v, d, m, sc = _winograd_views(ws_g, t, group * th_m * tw_m, o, c)
    gp, xpl = _padded_planes(ws_dxp[t], o, th_m, tw_m), _padded_planes(ws_dxp[t], c, th_m, tw_m)
    n0, n1 = chunk_span(n, nchunks, t)
    if winograd_dw:
        part, dbp = _winograd_grad_slot(ws_dw, o, c, t)
    else:
        part, _, dbp = _grad_slot(ws_dw, 9 * c, o, t)
    if n1 == n0:
        _clear_slot(part, dbp)
    for a in range(n0, n1, group):
        k = min(n1 - a, group)
        g_b = ws_dcol[t * 9 * c * group * per:t * 9 * c * group * per + o * k * per].reshape(o, k * per)
        for i in range(k):
            _act_grad(g_b, dy[a + i], y[a + i], i * per, row, act, alpha)
            if winograd_dw:
                pad_planes(xpl, x[a + i].reshape(c, h * wd), 0, wd, h, wd, ph, pw)
                gather_tiles(m, k * per_y, i * per_y, xpl, th_y, tw_y)
                gather_output_tiles(v, k * per_y, i * per_y, g_b, i * per, row, oh, ow, th_y, tw_y)
            else:
                pad_planes(ws_dxp[t], x[a + i].reshape(c, h * wd), 0, wd, h, wd, ph, pw)
                _accumulate_taps(part, ws_dxp[t], g_b[:, i * per:(i + 1) * per], 3, 3, a == n0 and i == 0)
        if winograd_dw:
            input_transform(m, d, c * k * per_y)
            output_grad_transform(v, d, o * k * per_y)
            _accumulate_du(part, v, m, o, c, k * per_y, a == n0)
        _accumulate_db(dbp, g_b, a == n0)
        count = k * per_x
        for i in range(k):
            pad_planes(gp, g_b, i * per, row, oh, ow, 2 - ph, 2 - pw)
            gather_tiles(v, count, i * per_x, gp, th_x, tw_x)
        input_transform(v, d, o * count)
        tile_products(m, u, v, c, o, count)
        output_columns(sc, m, c * count)
        for i in range(k):
            output_transform(dx[a + i], sc, count, i * per_x, ws_dw[:0], ACT_NONE, 0.0)   # no bias


@jit
def _winograd_grad_slot(ws_dw, o, c, t):
    """Chunk t's part of ws_dw for a Winograd dw: the dU partial (36*O, C), the db partial (O,)."""
    base = t * (36 * c + 1) * o
    return ws_dw[base:base + 36 * o * c].reshape(36 * o, c), ws_dw[base + 36 * o * c:base + (36 * c + 1) * o]


@jit
def _accumulate_du(du, z, vx, o, c, count, first):
    """du[xi*O:(xi + 1)*O] (O, C) (=|+=) z[xi] (O, count) @ vx[xi].T (count, C) for the 36 xi: the block's dM and
    V planes (PLANE_PAD apart), one BLAS GEMM each."""
    sz, sv = o * count + PLANE_PAD, c * count + PLANE_PAD
    for xi in range(36):
        gemm_into(du[xi * o:(xi + 1) * o], z[xi * sz:xi * sz + o * count].reshape(o, count),
                  vx[xi * sv:xi * sv + c * count].reshape(c, count).T, 0.0 if first else 1.0)


@jit
def _backward_strided_chunk(dx, ws_dcol, ws_g, ws_dw, dy, col, x, w, y, sh, sw, ph, pw, act, alpha, need_dx,
                            nchunks, group, t, sync):
    """Chunk t of the strided backward, per block: col (kept or recomputed), g, its dw/db partials, dcol and
    col2im."""
    release_workers(sync, t)
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    per = oh * ow
    w2 = w.reshape(o, ckk)
    n0, n1 = chunk_span(n, nchunks, t)
    part, prod, dbp = _grad_slot(ws_dw, ckk, o, t)
    if n1 == n0:
        _clear_slot(part, dbp)
    for a in range(n0, n1, group):
        m = min(n1 - a, group)
        col_b, g_b = _block(col, ckk, t, group * per, m * per), _block(ws_g, o, t, group * per, m * per)
        for i in range(m):
            if n1 - n0 > group:
                im2col_sample(col_b, i * per, x[a + i], kh, kw, sh, sw, ph, pw, oh, ow)
            _act_grad(g_b, dy[a + i], y[a + i], i * per, ow, act, alpha)
        _accumulate_block(part, prod, dbp, col_b, g_b, a == n0)
        if need_dx:
            dcol_b = _block(ws_dcol, ckk, t, group * per, m * per)
            np.dot(w2.T, g_b, dcol_b)
            for i in range(m):
                col2im_sample(dx[a + i], dcol_b, i * per, kh, kw, sh, sw, ph, pw, oh, ow)



@jit
def _reduce_grads(dw, db, ws_dw, nchunks):
    """dw2 += sum_t part_t.T and db += sum_t dbpart_t over the chunks' slots (dw2 = dw as (O, C*KH*KW))."""
    o, ckk = dw.shape[0], dw.size // dw.shape[0]
    dw2 = dw.reshape(o, ckk)
    for t in range(nchunks):
        part, _, dbp = _grad_slot(ws_dw, ckk, o, t)
        for oi in range(o):
            db[oi] += dbp[oi]
        for r in range(ckk):
            for oi in range(o):
                dw2[oi, r] += part[r, oi]


@jit
def _reduce_winograd_grads(dw, db, ws_dw, nchunks):
    """dw += G^T (sum_t dU_t) G and db += sum_t dbpart_t over the chunks' Winograd dw slots (chunk 0's dU ends up
    holding the sum)."""
    o, c = dw.shape[0], dw.shape[1]
    du0, _ = _winograd_grad_slot(ws_dw, o, c, 0)
    for t in range(nchunks):
        du, dbp = _winograd_grad_slot(ws_dw, o, c, t)
        for oi in range(o):
            db[oi] += dbp[oi]
        if t > 0:
            for r in range(36 * o):
                for ci in range(c):
                    du0[r, ci] += du[r, ci]
    filter_grad(dw, du0.reshape(36, o, c))
