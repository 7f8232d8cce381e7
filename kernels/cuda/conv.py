"""2-D convolution on numba.cuda: im2col + one GEMM with the bias/activation epilogue writing NCHW.

x (N,C,H,W), w (O,C,KH,KW) viewed as W2 (O, C*KH*KW), b (O,), y/dy (N,O,OH,OW); S = OH*OW, P = N*S.
forward:  col = im2col(x) (C*KH*KW, P), standard layout (kernels/cuda/im2col.py), in the flat ``col``
          y[n,o,s] = act(W2 @ col + b[o]) at column p = n*S + s   (the GEMM stores NCHW directly)
backward: g = dy * act'(y) -> ws_g as (O, P), db[o] += sum_p g[o, p]      (one launch, block per o)
          dw += g @ col.T (split over P when the grid is small);  if need_dx: ws_dcol = W2.T @ g (C*KH*KW, P),
          dx = col2im(ws_dcol)
Backward reads the ``col`` this module's forward wrote. Every layout fits in the workspaces sized by
kernels/shapes.py conv2d_workspace_shapes for any nchunks; ws_y, ws_xp, ws_dw, ws_dxp and nchunks (the
CPU's batch split and "wide" stride-1 layout) are accepted and unused. dw/db accumulate (+=) as on CPU.
"""

from numba import cuda

from kernels.cuda._launch import THREADS, block_sum, require_device
from kernels.cuda.im2col import launch_col2im, launch_im2col
from kernels.cuda.matmul import REDUCE_SHAPE, ROW_BIAS, ZERO, activation_grad, launch_gemm, rowmajor_layout
from kernels.shapes import conv2d_workspace_shapes

__all__ = ["conv2d_workspace_shapes", "conv2d_forward", "conv2d_backward"]


@cuda.jit
def _act_grad_rows_kernel(g, db, dy, y, o, s, act, alpha):
    """g[oi, n*S + t] = dy * act'(y) at [n, oi, t] (dy, y flat (N, O, S); g flat (O, N*S)) and
    db[oi] += sum of g's row oi. Grid O blocks (one per channel), THREADS threads along n*S + t."""
    oi = cuda.blockIdx.x
    p = dy.size // o
    buf = cuda.shared.array(REDUCE_SHAPE, g.dtype)
    acc = ZERO
    for q in range(cuda.threadIdx.x, p, THREADS):
        src = ((q // s) * o + oi) * s + q % s
        v = activation_grad(dy[src], y[src], act, alpha)
        g[oi * p + q] = v
        acc += v
    total = block_sum(buf, acc)
    if cuda.threadIdx.x == 0:
        db[oi] += total


def _geometry(x, w, y):
    n, o, oh, ow = y.shape
    ckk = w.size // o
    return n, o, ckk, oh * ow, w.shape[2], w.shape[3]


def conv2d_forward(y, col, ws_y, ws_xp, x, w, b, sh, sw, ph, pw, act, alpha, nchunks):
    require_device("conv2d_forward", y=y, col=col, ws_y=ws_y, ws_xp=ws_xp, x=x, w=w, b=b)
    n, o, ckk, s, kh, kw = _geometry(x, w, y)
    launch_im2col(col, x, kh, kw, sh, sw, ph, pw)
    # y[n, o, t] = act(W2 (O, CKK) @ col (CKK, P) + b[o]): output column p -> (p // S, p % S) of NCHW
    launch_gemm(y, w, col, o, n * s, ckk, (0, ckk, 1), (0, n * s, 1), (0, s, s, o * s), bias=b,
                bias_axis=ROW_BIAS, act=act, act_alpha=alpha)


def conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, sh, sw, ph, pw, act, alpha,
                    need_dx, nchunks):
    require_device("conv2d_backward", dx=dx, dw=dw, db=db, ws_dcol=ws_dcol, ws_g=ws_g, ws_dw=ws_dw,
                   ws_dxp=ws_dxp, dy=dy, col=col, x=x, w=w, y=y)
    n, o, ckk, s, kh, kw = _geometry(x, w, y)
    p = n * s
    g = ws_g.reshape(ws_g.size)
    _act_grad_rows_kernel[o, THREADS](g, db, dy.reshape(dy.size), y.reshape(y.size), o, s, act,
                                      y.dtype.type(alpha))
    # dw (O, CKK) += g (O, P) @ col.T: B(q, r) = col[r*P + q]
    launch_gemm(dw, g, col, o, ckk, p, (0, p, 1), (0, 1, p), rowmajor_layout(o, ckk), beta=1.0)
    if need_dx:
        # dcol (CKK, P) = W2.T @ g: A(r, oi) = w[oi*CKK + r]
        launch_gemm(ws_dcol, w, g, ckk, p, o, (0, 1, ckk), (0, p, 1), rowmajor_layout(ckk, p))
        launch_col2im(dx, ws_dcol.reshape(ws_dcol.size), kh, kw, sh, sw, ph, pw)
