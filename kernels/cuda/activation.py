"""Activations on the GPU (formulas: kernels/reference/activation.py).

Elementwise ops: y, x, dx, dy 1-D C-contiguous of equal length (callers pass ``a.reshape(-1)``), one thread
per element (adjacent threads, adjacent elements: coalesced), one launch per call. Constants are made in the
array's dtype (``x.dtype.type(c)``) and float scalars are cast on the host, so float32 kernels do float32 math.

softmax / log_softmax: 2-D (n, K) along the last axis. Each aligned group of ``g`` threads of a block owns
one row (``row_group(K)``: one thread per row when rows are short, else the power of two >= K, at most a
whole block); the row max and sum are shared-memory tree reductions within the group (``group_max`` /
``group_sum``, also used by kernels/cuda/loss.py). Adjacent threads read adjacent elements of a row and a
block covers adjacent rows, so the loads stay coalesced for any K.
"""

import math

from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
           "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
           "step_forward", "step_backward", "elu_forward", "elu_backward", "softplus_forward", "softplus_backward",
           "gelu_forward", "gelu_backward", "silu_forward", "silu_backward", "softmax_forward", "softmax_backward",
           "log_softmax_forward", "log_softmax_backward"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715

#: rows of at most this many entries get one thread each (a serial loop beats a shared-memory reduction)
SHORT_ROW = 8


# --------------------------------------------------------------------------- row groups (shared with loss.py)
def row_group(k: int) -> int:
    """Threads per row of the row kernels: 1 for rows of <= SHORT_ROW entries, else the power of two >= k,
    at most THREADS (a whole block; each thread then loops over k / THREADS entries)."""
    if k <= SHORT_ROW:
        return 1
    g = 1
    while g < k and g < THREADS:
        g *= 2
    return g


def row_blocks(n: int, g: int) -> int:
    """Blocks of THREADS threads that cover n rows of g threads each."""
    return blocks(n, THREADS // g)


@cuda.jit(device=True)
def group_row(g):
    """(row, lane) of this thread: the block's THREADS // g groups of g threads own consecutive rows."""
    t = cuda.threadIdx.x
    return cuda.blockIdx.x * (cuda.blockDim.x // g) + t // g, t & (g - 1)


@cuda.jit(device=True)
def group_sum(buf, v, g):
    """Sum of v over each aligned group of g threads (g a power of two <= the block size), returned to every
    thread of the group; buf is a THREADS-long shared array of v's dtype. The whole block must call it with
    the same g (it synchronizes); buf is free again when it returns."""
    if g == 1:
        return v
    t = cuda.threadIdx.x
    buf[t] = v
    cuda.syncthreads()
    s = g // 2
    while s > 0:
        if t & (g - 1) < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    r = buf[t - (t & (g - 1))]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def group_max(buf, v, g):
    """Max of v over each aligned group of g threads, like ``group_sum``. NaN entries are skipped here; a row
    holding NaN still turns NaN through the exp sum that follows every max in these kernels."""
    if g == 1:
        return v
    t = cuda.threadIdx.x
    buf[t] = v
    cuda.syncthreads()
    s = g // 2
    while s > 0:
        if t & (g - 1) < s and buf[t + s] > buf[t]:
            buf[t] = buf[t + s]
        cuda.syncthreads()
        s //= 2
    r = buf[t - (t & (g - 1))]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def row_max(buf, x, row, lane, kk, g):
    """max_j x[row, j] over the group (kk = K for a live row, 0 for the padding rows past n: -inf)."""
    m = x.dtype.type(-math.inf)
    for j in range(lane, kk, g):
        v = x[row, j]
        if v > m:
            m = v
    return group_max(buf, m, g)


@cuda.jit(device=True)
def row_sum_exp(buf, x, row, lane, kk, g, m):
    """sum_j exp(x[row, j] - m) over the group."""
    s = x.dtype.type(0)
    for j in range(lane, kk, g):
        s += math.exp(x[row, j] - m)
    return group_sum(buf, s, g)


@cuda.jit(device=True)
def sigmoid(z, one):
    """1 / (1 + e^-z), split by sign so exp never overflows (one = 1 in z's dtype)."""
    if z >= 0:
        return one / (one + math.exp(-z))
    e = math.exp(z)
    return e / (one + e)


# --------------------------------------------------------------------------- elementwise kernels
@cuda.jit
def _relu_forward_kernel(y, x):
    """y = max(x, 0) (NaN stays NaN); y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        y[i] = y.dtype.type(0) if v <= 0 else v


@cuda.jit
def _relu_backward_kernel(dx, dy, y):
    """dx = dy where y > 0 else 0; dx, dy, y (n,)."""
    i = cuda.grid(1)
    if i < y.size:
        dx[i] = dy[i] if y[i] > 0 else dx.dtype.type(0)


@cuda.jit
def _leaky_relu_forward_kernel(y, x, alpha):
    """y = x if x > 0 else alpha x; y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        y[i] = v if v > 0 else alpha * v


@cuda.jit
def _leaky_relu_backward_kernel(dx, dy, x, alpha):
    """dx = dy if x > 0 else alpha dy (from the input: exact for any alpha); dx, dy, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        dx[i] = dy[i] if x[i] > 0 else alpha * dy[i]


@cuda.jit
def _sigmoid_forward_kernel(y, x):
    """y = 1 / (1 + e^-x), overflow-free for any x; y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        y[i] = sigmoid(x[i], x.dtype.type(1))


@cuda.jit
def _sigmoid_backward_kernel(dx, dy, y):
    """dx = dy y (1 - y) from the output y; dx, dy, y (n,)."""
    i = cuda.grid(1)
    if i < y.size:
        dx[i] = dy[i] * y[i] * (y.dtype.type(1) - y[i])


@cuda.jit
def _tanh_forward_kernel(y, x):
    """y = tanh(x); y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        y[i] = math.tanh(x[i])


@cuda.jit
def _tanh_backward_kernel(dx, dy, y):
    """dx = dy (1 - y^2) from the output y; dx, dy, y (n,)."""
    i = cuda.grid(1)
    if i < y.size:
        dx[i] = dy[i] * (y.dtype.type(1) - y[i] * y[i])


@cuda.jit
def _step_forward_kernel(y, x):
    """y = 1 if x >= 0 else 0 (NaN -> 0, as the reference); y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        y[i] = y.dtype.type(1) if x[i] >= 0 else y.dtype.type(0)


@cuda.jit
def _step_backward_kernel(dx, dy, straight_through):
    """dx = dy (straight-through estimator) if straight_through else 0; dx, dy (n,)."""
    i = cuda.grid(1)
    if i < dy.size:
        dx[i] = dy[i] if straight_through else dx.dtype.type(0)


@cuda.jit
def _elu_forward_kernel(y, x, alpha):
    """y = x if x > 0 else alpha (e^x - 1); y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        y[i] = v if v > 0 else alpha * math.expm1(v)


@cuda.jit
def _elu_backward_kernel(dx, dy, x, alpha):
    """dx = dy if x > 0 else dy alpha e^x; dx, dy, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        dx[i] = dy[i] if v > 0 else dy[i] * alpha * math.exp(v)


@cuda.jit
def _softplus_forward_kernel(y, x, beta, threshold):
    """y = x where beta x > threshold, else (max(z, 0) + log1p(e^-|z|)) / beta with z = beta x; y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        z = beta * v
        if z > threshold:
            y[i] = v
        else:
            zero = x.dtype.type(0)
            y[i] = ((z if z > zero else zero) + math.log1p(math.exp(-abs(z)))) / beta


@cuda.jit
def _softplus_backward_kernel(dx, dy, x, beta, threshold):
    """dx = dy where beta x > threshold, else dy sigmoid(beta x); dx, dy, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        z = beta * x[i]
        dx[i] = dy[i] if z > threshold else dy[i] * sigmoid(z, x.dtype.type(1))


@cuda.jit
def _gelu_forward_kernel(y, x, approximate):
    """y = x/2 (1 + erf(x / sqrt 2)), or x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) if approximate;
    y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        dt = x.dtype.type
        half, one, v = dt(0.5), dt(1), x[i]
        if approximate:
            y[i] = half * v * (one + math.tanh(dt(_SQRT_2_OVER_PI) * (v + dt(_GELU_C) * v * v * v)))
        else:
            y[i] = half * v * (one + math.erf(v * dt(_INV_SQRT_2)))


@cuda.jit
def _gelu_backward_kernel(dx, dy, x, approximate):
    """dx = dy (Phi(x) + x phi(x)), or the derivative of the tanh form if approximate; dx, dy, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        dt = x.dtype.type
        half, one, v = dt(0.5), dt(1), x[i]
        if approximate:
            c, a = dt(_SQRT_2_OVER_PI), dt(_GELU_C)
            t = math.tanh(c * (v + a * v * v * v))
            dx[i] = dy[i] * (half * (one + t) + half * v * (one - t * t) * c * (one + dt(3) * a * v * v))
        else:
            cdf = half * (one + math.erf(v * dt(_INV_SQRT_2)))
            dx[i] = dy[i] * (cdf + v * dt(_INV_SQRT_2PI) * math.exp(-half * v * v))


@cuda.jit
def _silu_forward_kernel(y, x):
    """y = x sigmoid(x); y, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        y[i] = v * sigmoid(v, x.dtype.type(1))


@cuda.jit
def _silu_backward_kernel(dx, dy, x):
    """dx = dy s (1 + x (1 - s)), s = sigmoid(x); dx, dy, x (n,)."""
    i = cuda.grid(1)
    if i < x.size:
        one, v = x.dtype.type(1), x[i]
        s = sigmoid(v, one)
        dx[i] = dy[i] * s * (one + v * (one - s))


# --------------------------------------------------------------------------- softmax rows
@cuda.jit
def _softmax_forward_kernel(y, x, g, log):
    """Row-wise y = exp(x - lse(x)) (log False) or y = (x - m) - log sum exp(x - m) (log True), m = row max;
    y, x (n, K); g threads per row (see the module docstring)."""
    buf = cuda.shared.array(THREADS, x.dtype)
    n, k = x.shape
    row, lane = group_row(g)
    kk = k if row < n else 0
    m = row_max(buf, x, row, lane, kk, g)
    s = row_sum_exp(buf, x, row, lane, kk, g, m)
    if log:
        ls = math.log(s) if kk else s
        for j in range(lane, kk, g):
            y[row, j] = (x[row, j] - m) - ls
    else:
        for j in range(lane, kk, g):
            y[row, j] = math.exp(x[row, j] - m) / s


@cuda.jit
def _softmax_backward_kernel(dx, dy, y, g, log):
    """Row-wise dx = y (dy - sum(dy y)) (log False) or dx = dy - exp(y) sum(dy) (log True), from the output y;
    dx, dy, y (n, K); g threads per row."""
    buf = cuda.shared.array(THREADS, y.dtype)
    n, k = y.shape
    row, lane = group_row(g)
    kk = k if row < n else 0
    s = y.dtype.type(0)
    for j in range(lane, kk, g):
        s += dy[row, j] if log else dy[row, j] * y[row, j]
    s = group_sum(buf, s, g)
    for j in range(lane, kk, g):
        if log:
            dx[row, j] = dy[row, j] - math.exp(y[row, j]) * s
        else:
            dx[row, j] = y[row, j] * (dy[row, j] - s)


# --------------------------------------------------------------------------- launchers
def _grid(a):
    return blocks(a.size), THREADS


def relu_forward(y, x):
    require_device("relu_forward", y=y, x=x)
    _relu_forward_kernel[_grid(x)](y, x)


def relu_backward(dx, dy, y):
    require_device("relu_backward", dx=dx, dy=dy, y=y)
    _relu_backward_kernel[_grid(y)](dx, dy, y)


def leaky_relu_forward(y, x, alpha):
    require_device("leaky_relu_forward", y=y, x=x)
    _leaky_relu_forward_kernel[_grid(x)](y, x, x.dtype.type(alpha))


def leaky_relu_backward(dx, dy, x, alpha):
    require_device("leaky_relu_backward", dx=dx, dy=dy, x=x)
    _leaky_relu_backward_kernel[_grid(x)](dx, dy, x, x.dtype.type(alpha))


def sigmoid_forward(y, x):
    require_device("sigmoid_forward", y=y, x=x)
    _sigmoid_forward_kernel[_grid(x)](y, x)


def sigmoid_backward(dx, dy, y):
    require_device("sigmoid_backward", dx=dx, dy=dy, y=y)
    _sigmoid_backward_kernel[_grid(y)](dx, dy, y)


def tanh_forward(y, x):
    require_device("tanh_forward", y=y, x=x)
    _tanh_forward_kernel[_grid(x)](y, x)


def tanh_backward(dx, dy, y):
    require_device("tanh_backward", dx=dx, dy=dy, y=y)
    _tanh_backward_kernel[_grid(y)](dx, dy, y)


def step_forward(y, x):
    require_device("step_forward", y=y, x=x)
    _step_forward_kernel[_grid(x)](y, x)


def step_backward(dx, dy, straight_through):
    require_device("step_backward", dx=dx, dy=dy)
    _step_backward_kernel[_grid(dy)](dx, dy, bool(straight_through))


def elu_forward(y, x, alpha):
    require_device("elu_forward", y=y, x=x)
    _elu_forward_kernel[_grid(x)](y, x, x.dtype.type(alpha))


def elu_backward(dx, dy, x, alpha):
    require_device("elu_backward", dx=dx, dy=dy, x=x)
    _elu_backward_kernel[_grid(x)](dx, dy, x, x.dtype.type(alpha))


def softplus_forward(y, x, beta, threshold):
    require_device("softplus_forward", y=y, x=x)
    _softplus_forward_kernel[_grid(x)](y, x, x.dtype.type(beta), x.dtype.type(threshold))


def softplus_backward(dx, dy, x, beta, threshold):
    require_device("softplus_backward", dx=dx, dy=dy, x=x)
    _softplus_backward_kernel[_grid(x)](dx, dy, x, x.dtype.type(beta), x.dtype.type(threshold))


def gelu_forward(y, x, approximate):
    require_device("gelu_forward", y=y, x=x)
    _gelu_forward_kernel[_grid(x)](y, x, bool(approximate))


def gelu_backward(dx, dy, x, approximate):
    require_device("gelu_backward", dx=dx, dy=dy, x=x)
    _gelu_backward_kernel[_grid(x)](dx, dy, x, bool(approximate))


def silu_forward(y, x):
    require_device("silu_forward", y=y, x=x)
    _silu_forward_kernel[_grid(x)](y, x)


def silu_backward(dx, dy, x):
    require_device("silu_backward", dx=dx, dy=dy, x=x)
    _silu_backward_kernel[_grid(x)](dx, dy, x)


def _softmax(y, x, log):
    n, k = x.shape
    g = row_group(k)
    _softmax_forward_kernel[row_blocks(n, g), THREADS](y, x, g, log)


def _softmax_grad(dx, dy, y, log):
    n, k = y.shape
    g = row_group(k)
    _softmax_backward_kernel[row_blocks(n, g), THREADS](dx, dy, y, g, log)


def softmax_forward(y, x):
    require_device("softmax_forward", y=y, x=x)
    _softmax(y, x, False)


def softmax_backward(dx, dy, y):
    require_device("softmax_backward", dx=dx, dy=dy, y=y)
    _softmax_grad(dx, dy, y, False)


def log_softmax_forward(y, x):
    require_device("log_softmax_forward", y=y, x=x)
    _softmax(y, x, True)


def log_softmax_backward(dx, dy, y):
    require_device("log_softmax_backward", dx=dx, dy=dy, y=y)
    _softmax_grad(dx, dy, y, True)
