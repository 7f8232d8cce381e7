"""Fully connected product with a fused bias + activation epilogue.

forward:  y = act(x @ w.T + b)          x (N, K), w (M, K), b (M,), y (N, M)
backward: g = dy * act'(y)              dy, y (N, M)
          dx = g @ w  (N, K);  dw += g.T @ x  (M, K);  db += sum_n g  (M,)
dx is skipped when ``need_dx`` is False (first layer). Workspaces (ws_*) and ``nchunks`` (the
thread split of the compiled kernel) are ignored here.

gemm:         c = alpha * a @ b + beta * c      c (M, N), a (M, K), b (K, N); beta == 0: c is not read
                                                 (BLAS convention: NaN/garbage in c does not propagate)
batched_gemm: c[i] = a[i] @ b[i]                c (B, M, N), a (B, M, K), b (B, K, N)
"""


from kernels.reference.activation import act_from_output_backward, apply_activation
from kernels.shapes import linear_workspace_shape

__all__ = ["linear_workspace_shape", "linear_forward", "linear_backward", "gemm", "batched_gemm"]


def linear_forward(y, x, w, b, act, alpha, nchunks):
    y[...] = apply_activation(x @ w.T + b, act, alpha)


def linear_backward(dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks):
    g = act_from_output_backward(dy, y, act, alpha)
    if need_dx:
        dx[...] = g @ w
    dw += g.T @ x
    db += g.sum(axis=0)


def gemm(c, a, b, alpha, beta):
    if beta == 0:
        c[...] = alpha * (a @ b)
    else:
        c[...] = alpha * (a @ b) + beta * c


def batched_gemm(c, a, b):
    c[...] = a @ b
