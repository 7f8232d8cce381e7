"""GEMM on numba.cuda: one tiled, register-blocked kernel behind every product, with a fused epilogue.

C[z](m, p) = act(alpha * sum_k A[z](m, k) B[z](k, p) + beta * C[z](m, p) + bias)      (beta == 0: C unread)
Operands are flat arrays addressed by strides, so one kernel serves A @ B, A @ B^T, A^T @ B, batches
(grid z) and the conv output layout (column p = (sample, pixel) stored NCHW: ``group``/``scg``).
Each block computes a BM x BM (64 x 64) tile with TILE x TILE threads, R x R outputs per thread, and
loops over ceil(K / TILE) shared-memory tiles. When the output has too few tiles to fill the GPU and
K is long (weight gradients: K = batch or batch*pixels), K is split over grid z into partial products
(a scratch buffer) that ``_splitk_reduce_kernel`` sums deterministically before the epilogue.

linear (as kernels/cpu/matmul.py): y = act(x @ w.T + b); x (N, K), w (M, K), b (M,), y (N, M)
  backward: g = dy * act'(y) -> ws_g (N, M), db += sum_n g (one launch); dx = g @ w if need_dx;
  dw += g.T @ x. ws_dw and nchunks (the CPU thread split) are accepted and unused.
gemm: c = alpha * a @ b + beta * c, c (M, N), a (M, K), b (K, N);  batched_gemm: c[i] = a[i] @ b[i].
"""

import math

import numpy as np
from numba import cuda

from kernels.codes import ACT_LEAKY_RELU, ACT_RELU, ACT_SIGMOID, ACT_TANH
from kernels.cuda._launch import THREADS, TILE, blocks, require_device, scratch
from kernels.shapes import linear_workspace_shape

__all__ = ["linear_workspace_shape", "linear_forward", "linear_backward", "gemm", "batched_gemm"]

R = 4  # outputs per thread along each axis (register blocking)
BM = R * TILE  # side of a block's output tile
_SMEM = (TILE, BM + 1)  # a (k, row) operand tile; +1 column against shared-memory bank conflicts
_ACC = (R, R)
_VEC = (R,)
_COLS = 32  # columns per block of the linear act-grad + bias-gradient kernel
_ROWS = THREADS // _COLS  # row phases per block of that kernel
_SUM = (_ROWS, _COLS)
REDUCE_SHAPE = (THREADS,)  # shared buffer of block_sum
_TARGET_BLOCKS = 264  # split K until the grid has about this many blocks (2 per H100 SM)
_MIN_SPLIT_TILES = 4  # each K split covers at least this many TILE-deep tiles

# float32 constants keep float32 kernels in float32 (a Python literal promotes to float64). Never add them
# to a math.* result: the simulator returns a Python float there, and NumPy would round a float64 kernel's
# value to float32 (activate takes ``one`` in the kernel's dtype instead).
ZERO = np.float32(0.0)
ONE = np.float32(1.0)

NO_BIAS, ROW_BIAS, COL_BIAS = 0, 1, 2


# ---------------------------------------------------------------------------------------- device helpers

@cuda.jit(device=True)
def activate(z, act, alpha, one):
    """act(z) for one scalar (kernels/codes.py); sigmoid split by sign so exp never overflows.
    ``one`` is 1 in the kernel's dtype (``c.dtype.type(1)``): float32 kernels stay in float32 math."""
    if act == ACT_RELU:
        return ZERO if z <= 0 else z
    if act == ACT_LEAKY_RELU:
        return z if z > 0 else alpha * z
    if act == ACT_SIGMOID:
        if z >= 0:
            return one / (one + math.exp(-z))
        e = math.exp(z)
        return e / (one + e)
    if act == ACT_TANH:
        return math.tanh(z)
    return z


@cuda.jit(device=True)
def activation_grad(dy, y, act, alpha):
    """dy * act'(.) from the activation's output y (as kernels.reference act_from_output_backward)."""
    if act == ACT_RELU:
        return dy if y > 0 else ZERO * dy
    if act == ACT_LEAKY_RELU:
        return dy if y > 0 else alpha * dy
    if act == ACT_SIGMOID:
        return dy * y * (ONE - y)
    if act == ACT_TANH:
        return dy * (ONE - y * y)
    return dy


@cuda.jit(device=True)
def _load_tile(tile, a, base, r0, k0, rows, k, srow, sk, tid):
    """tile[kk, rr] = A(r0 + rr, k0 + kk) (0 outside rows x k); A(r, q) = a[base + r*srow + q*sk].
    Consecutive threads walk A's contiguous axis (k when sk == 1, else rows) so loads coalesce."""
    for q in range(R):
        e = tid + q * TILE * TILE
        if sk == 1:
            kk, rr = e % TILE, e // TILE
        else:
            kk, rr = e // BM, e % BM
        r, kq = r0 + rr, k0 + kk
        tile[kk, rr] = a[base + r * srow + kq * sk] if r < rows and kq < k else ZERO


@cuda.jit(device=True)
def _store(c, idx, v, beta, bias, bidx, bias_axis, act, act_alpha):
    """The epilogue of one output: c[idx] = act(v + beta*c[idx] + bias[bidx])."""
    if beta != 0:
        v += beta * c[idx]
    if bias_axis != NO_BIAS:
        v += bias[bidx]
    c[idx] = activate(v, act, act_alpha, c.dtype.type(1))


@cuda.jit(device=True)
def _c_index(z, row, col, scb, scm, group, scg):
    """Flat index of C[z](row, col): column col = (col // group, col % group) of an NCHW-like layout."""
    return z * scb + (col // group) * scg + row * scm + col % group


# ---------------------------------------------------------------------------------------- kernels

@cuda.jit
def _gemm_kernel(c, part, a, b, bias, m, n, k, sab, sam, sak, sbb, sbk, sbn, scb, scm, group, scg, splits,
                 kchunk, alpha, beta, bias_axis, act, act_alpha):
    """C[z] = act(alpha * A[z] @ B[z] + beta * C[z] + bias), tiled (module docstring).

    A[z](i, q) = a[z*sab + i*sam + q*sak] (m x k), B[z](q, j) = b[z*sbb + q*sbk + j*sbn] (k x n); C index:
    ``_c_index``; bias per row (bias_axis 1) or column (2). Grid (ceil(n/BM), ceil(m/BM), batch*splits),
    block (TILE, TILE). splits > 1: block z's K range [s*kchunk, (s+1)*kchunk) goes, times alpha, to
    part (splits, m, n) and the epilogue is left to _splitk_reduce_kernel.
    """
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    tid = ty * TILE + tx
    z, s = cuda.blockIdx.z // splits, cuda.blockIdx.z % splits
    m0, n0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BM
    ta = cuda.shared.array(_SMEM, c.dtype)
    tb = cuda.shared.array(_SMEM, c.dtype)
    acc = cuda.local.array(_ACC, c.dtype)
    bv = cuda.local.array(_VEC, c.dtype)
    for i in range(R):
        for j in range(R):
            acc[i, j] = 0
    kbeg = s * kchunk
    kend = min(k, kbeg + kchunk)
    for k0 in range(kbeg, kend, TILE):
        _load_tile(ta, a, z * sab, m0, k0, m, kend, sam, sak, tid)
        _load_tile(tb, b, z * sbb, n0, k0, n, kend, sbn, sbk, tid)
        cuda.syncthreads()
        for kk in range(TILE):
            for j in range(R):
                bv[j] = tb[kk, tx + j * TILE]
            for i in range(R):
                av = ta[kk, ty + i * TILE]
                for j in range(R):
                    acc[i, j] += av * bv[j]
        cuda.syncthreads()
    for i in range(R):
        row = m0 + ty + i * TILE
        for j in range(R):
            col = n0 + tx + j * TILE
            if row < m and col < n:
                if splits > 1:
                    part[(s * m + row) * n + col] = alpha * acc[i, j]
                else:
                    idx = _c_index(z, row, col, scb, scm, group, scg)
                    _store(c, idx, alpha * acc[i, j], beta, bias, row if bias_axis == ROW_BIAS else col,
                           bias_axis, act, act_alpha)


@cuda.jit
def _splitk_reduce_kernel(c, part, bias, m, n, splits, scm, group, scg, beta, bias_axis, act, act_alpha):
    """C(row, col) = epilogue(sum_s part[s, row, col]); part (splits, m, n), one thread per output."""
    e = cuda.grid(1)
    if e < m * n:
        row, col = e // n, e % n
        v = part[e]
        for s in range(1, splits):
            v += part[s * m * n + e]
        _store(c, _c_index(0, row, col, 0, scm, group, scg), v, beta, bias,
               row if bias_axis == ROW_BIAS else col, bias_axis, act, act_alpha)


@cuda.jit
def _act_grad_colsum_kernel(g, db, dy, y, act, alpha):
    """g = dy * act'(y) (N, M) and db[j] += sum_i g[i, j]. Block (_COLS, _ROWS): threads along the
    contiguous j, row phases reduced in shared memory; grid ceil(M / _COLS)."""
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    j = cuda.blockIdx.x * _COLS + tx
    rows, cols = g.shape
    buf = cuda.shared.array(_SUM, g.dtype)
    acc = ZERO
    if j < cols:
        for i in range(ty, rows, _ROWS):
            v = activation_grad(dy[i, j], y[i, j], act, alpha)
            g[i, j] = v
            acc += v
    buf[ty, tx] = acc
    cuda.syncthreads()
    if ty == 0 and j < cols:
        total = buf[0, tx]
        for r in range(1, _ROWS):
            total += buf[r, tx]
        db[j] += total


# ---------------------------------------------------------------------------------------- launchers

def _flat(a):
    """A 1-D view of a C-contiguous device array (no copy)."""
    return a.reshape(a.size)


def _splits(m, n, k, batch):
    """How many K splits bring the grid near _TARGET_BLOCKS blocks (1 when batched or K is short)."""
    tiles = blocks(m, BM) * blocks(n, BM) * batch
    if batch > 1 or tiles >= _TARGET_BLOCKS:
        return 1
    return max(1, min(-(-k // (TILE * _MIN_SPLIT_TILES)), _TARGET_BLOCKS // tiles))


def launch_gemm(c, a, b, m, n, k, a_strides, b_strides, c_layout, alpha=1.0, beta=0.0, bias=None,
                bias_axis=NO_BIAS, act=0, act_alpha=0.0, batch=1):
    """Launch C = act(alpha * A @ B + beta * C + bias) over flat views (the shared entry of matmul/conv).

    a_strides (sab, sam, sak), b_strides (sbb, sbk, sbn): batch, row, k strides of A and k, column strides
    of B; c_layout (scb, scm, group, scg) as ``_c_index``. Split-K (scratch partials) when the grid is small.
    """
    dt = c.dtype.type
    cf, af, bf = _flat(c), _flat(a), _flat(b)
    biasf = cf if bias is None else _flat(bias)
    splits = _splits(m, n, k, batch)
    kchunk = -(-k // (splits * TILE)) * TILE if splits > 1 else max(k, 1)
    splits = max(1, -(-k // kchunk))
    part = scratch("gemm_splitk", (splits * m * n,), c.dtype) if splits > 1 else cf
    grid = (blocks(n, BM), blocks(m, BM), batch * splits)
    _gemm_kernel[grid, (TILE, TILE)](cf, part, af, bf, biasf, m, n, k, *a_strides, *b_strides, *c_layout, splits,
                                     kchunk, dt(alpha), dt(beta), bias_axis, act, dt(act_alpha))
    if splits > 1:
        scb, scm, group, scg = c_layout
        _splitk_reduce_kernel[blocks(m * n), THREADS](cf, part, biasf, m, n, splits, scm, group, scg, dt(beta),
                                                      bias_axis, act, dt(act_alpha))


def rowmajor_layout(rows, cols):
    """c_layout of a plain row-major (rows, cols) matrix."""
    return rows * cols, cols, cols, 0


def gemm(c, a, b, alpha, beta):
    require_device("gemm", c=c, a=a, b=b)
    m, k = a.shape
    n = b.shape[1]
    launch_gemm(c, a, b, m, n, k, (0, k, 1), (0, n, 1), rowmajor_layout(m, n), alpha, beta)


def batched_gemm(c, a, b):
    require_device("batched_gemm", c=c, a=a, b=b)
    nb, m, k = a.shape
    n = b.shape[2]
    launch_gemm(c, a, b, m, n, k, (m * k, k, 1), (k * n, n, 1), rowmajor_layout(m, n), batch=nb)


def linear_forward(y, x, w, b, act, alpha, nchunks):
    require_device("linear_forward", y=y, x=x, w=w, b=b)
    n, k = x.shape
    m = w.shape[0]
    # y (N, M) = x (N, K) @ w.T: B(q, j) = w[j, q]
    launch_gemm(y, x, w, n, m, k, (0, k, 1), (0, 1, k), rowmajor_layout(n, m), bias=b, bias_axis=COL_BIAS,
                act=act, act_alpha=alpha)


def linear_backward(dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks):
    require_device("linear_backward", dx=dx, dw=dw, db=db, ws_g=ws_g, ws_dw=ws_dw, dy=dy, x=x, w=w, y=y)
    n, k = x.shape
    m = w.shape[0]
    _act_grad_colsum_kernel[blocks(m, _COLS), (_COLS, _ROWS)](ws_g, db, dy, y, act, y.dtype.type(alpha))
    if need_dx:  # dx (N, K) = g (N, M) @ w (M, K)
        launch_gemm(dx, ws_g, w, n, k, m, (0, m, 1), (0, k, 1), rowmajor_layout(n, k))
    # dw (M, K) += g.T @ x: A(i, q) = g[q, i]
    launch_gemm(dw, ws_g, x, m, k, n, (0, 1, m), (0, k, 1), rowmajor_layout(m, k), beta=1.0)
