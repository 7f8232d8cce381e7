"""Fused optimizer updates over the flat parameter buffer on the GPU (formulas and shapes:
kernels/reference/optim.py; argument order: kernels/cpu/optim.py).

One launch per update. The buffer is cut into chunks of ``CHUNK`` elements, one block per chunk;
each thread updates ``PER_THREAD`` elements strided by ``THREADS`` (coalesced). A block first lists,
in shared memory, the segments that meet its chunk (the threads scan the table ``THREADS`` entries at
a time, ``_chunk_segments``); an element then looks its segment up in that short list (usually one
entry, ``_segment_of``) instead of searching the whole table, so the table may be in any order and
elements outside every segment (frozen groups) are never read or written. Segments must be disjoint
(the optimizers' tables are).

Per-segment float64 values (lr, weight decay, L1) are cast to the array dtype once per element read;
the host scalars arrive already in the array dtype, so float32 buffers run float32 math throughout.
``*_parallel`` names are the same launchers (a GPU launch is always parallel); ``PARALLEL_CHUNK`` is
kept for the CPU layout's name set and unused here.
"""

import math

import numba
from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device

__all__ = ["sgd_update", "momentum_update", "adagrad_update", "rmsprop_update", "rmsprop_nesterov_update",
           "adam_update", "adamax_update", "nadam_update",
           "sgd_update_parallel", "momentum_update_parallel", "adagrad_update_parallel", "rmsprop_update_parallel",
           "rmsprop_nesterov_update_parallel", "adam_update_parallel", "adamax_update_parallel",
           "nadam_update_parallel", "PARALLEL_CHUNK"]

PARALLEL_CHUNK = 1 << 16  # the CPU drivers' chunk (same name set as kernels.cpu.optim); unused on the GPU
PER_THREAD = 4  # elements per thread and chunk
CHUNK = THREADS * PER_THREAD  # elements per block (and the capacity of the per-block segment list)


# ------------------------------------------------------------------------------ shared device helpers


@cuda.jit(device=True)
def _chunk_segments(seg_start, seg_end, a, b, lst, cnt):
    """Fill ``lst[:m]`` (shared int32 (CHUNK,)) with the segments meeting [a, b) and return m; ``cnt`` is a
    shared int32 (1,) counter. Every thread of the block must call it (it synchronizes the block); a block
    that walks several chunks synchronizes between them, before lst is rebuilt."""
    t = cuda.threadIdx.x
    if t == 0:
        cnt[0] = 0
    cuda.syncthreads()
    for s in range(t, seg_start.size, THREADS):
        if max(seg_start[s], a) < min(seg_end[s], b):
            k = cuda.atomic.add(cnt, 0, 1)
            if k < CHUNK:  # disjoint non-empty segments meeting a chunk are at most CHUNK
                lst[k] = s
    cuda.syncthreads()
    return min(cnt[0], CHUNK)


@cuda.jit(device=True)
def _segment_of(i, b, seg_start, seg_end, lst, m):
    """The segment holding element i (< b, the chunk's end) among ``lst[:m]``; -1 when none (frozen)."""
    if i < b:
        for k in range(m):
            s = lst[k]
            if seg_start[s] <= i and i < seg_end[s]:
                return s
    return -1


@cuda.jit(device=True)
def _block_chunk(n, seg_start, seg_end, lst, cnt):
    """(a, b, m): the chunk [a, b) of the n-element buffer this block covers and the number m of segments
    meeting it, listed in ``lst`` (see _chunk_segments; every thread of the block must call it)."""
    a = numba.int64(cuda.blockIdx.x) * CHUNK
    b = min(a + CHUNK, n)
    return a, b, _chunk_segments(seg_start, seg_end, a, b, lst, cnt)


@cuda.jit(device=True)
def _decay(lr, wd, decoupled, one):
    """(decay factor of p, weight decay left in the gradient): (1 - lr wd, 0) when decoupled (AdamW), else
    (1, wd); ``one`` is 1 in the parameters' dtype."""
    if decoupled:
        return one - lr * wd, one - one
    return one, wd


@cuda.jit(device=True)
def _element(a, j):
    """The j-th element of this thread in the chunk starting at a (threads adjacent: coalesced)."""
    return a + j * THREADS + numba.int64(cuda.threadIdx.x)


@cuda.jit(device=True)
def _grad(p, g, sg, wd, l1):
    """The effective gradient sg * g + wd * p + l1 * sign(p) (every argument in the array dtype)."""
    r = sg * g + wd * p
    if p > 0:
        r += l1
    elif p < 0:
        r -= l1
    return r


@cuda.jit(device=True)
def _nanmax(a, b):
    """max(a, b) that propagates NaN like np.maximum."""
    return a if (a > b or a != a) else b


# --------------------------------------------------------------------------------------------- SGD


@cuda.jit
def _sgd_kernel(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, mu, damp, nesterov, sg, mode):
    """SGD, params/velocity/grads (N,): g = effective gradient; mode 0 (no momentum): p -= lr g; mode 1 (first
    step): b = g; mode 2: b = mu b + damp g; then p -= lr (g + mu b if nesterov else b)."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m = _block_chunk(params.size, seg_start, seg_end, lst, cnt)
    dt = params.dtype.type
    for j in range(PER_THREAD):
        i = _element(a, j)
        s = _segment_of(i, b, seg_start, seg_end, lst, m)
        if s >= 0:
            p, lr = params[i], dt(seg_lr[s])
            g = _grad(p, grads[i], sg, dt(seg_wd[s]), dt(seg_l1[s]))
            if mode == 0:
                params[i] = p - lr * g
            else:
                v = g if mode == 1 else mu * velocity[i] + damp * g
                velocity[i] = v
                params[i] = p - lr * (g + mu * v if nesterov else v)


def sgd_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum, dampening,
               nesterov, maximize, first_step):
    _check("sgd_update", params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, velocity=velocity)
    dt = params.dtype.type
    mode = 0 if momentum == 0 else 1 if first_step else 2
    _sgd_kernel[_grid(params), THREADS](params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd,
                                        seg_l1, dt(momentum), dt(1.0 - dampening), bool(nesterov),
                                        _sign(dt, maximize), mode)


@cuda.jit
def _momentum_kernel(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, mu, nesterov, sg):
    """Textbook momentum, params/velocity/grads (N,): v = mu v - lr g; p += (mu v - lr g if nesterov else v)."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m = _block_chunk(params.size, seg_start, seg_end, lst, cnt)
    dt = params.dtype.type
    for j in range(PER_THREAD):
        i = _element(a, j)
        s = _segment_of(i, b, seg_start, seg_end, lst, m)
        if s >= 0:
            p, lr = params[i], dt(seg_lr[s])
            g = _grad(p, grads[i], sg, dt(seg_wd[s]), dt(seg_l1[s]))
            v = mu * velocity[i] - lr * g
            velocity[i] = v
            params[i] = p + (mu * v - lr * g if nesterov else v)


def momentum_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum, nesterov,
                    maximize):
    _check("momentum_update", params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, velocity=velocity)
    dt = params.dtype.type
    _momentum_kernel[_grid(params), THREADS](params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd,
                                             seg_l1, dt(momentum), bool(nesterov), _sign(dt, maximize))


# ---------------------------------------------------------------------------------- AdaGrad, RMSProp


@cuda.jit
def _adagrad_kernel(params, state_sum, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, eps, sg):
    """AdaGrad, params/state_sum/grads (N,): s += g^2; p -= lr g / (sqrt(s) + eps)."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m = _block_chunk(params.size, seg_start, seg_end, lst, cnt)
    dt = params.dtype.type
    for j in range(PER_THREAD):
        i = _element(a, j)
        s = _segment_of(i, b, seg_start, seg_end, lst, m)
        if s >= 0:
            p = params[i]
            g = _grad(p, grads[i], sg, dt(seg_wd[s]), dt(seg_l1[s]))
            acc = state_sum[i] + g * g
            state_sum[i] = acc
            params[i] = p - dt(seg_lr[s]) * g / (math.sqrt(acc) + eps)


def adagrad_update(params, state_sum, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, eps, maximize):
    _check("adagrad_update", params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, state_sum=state_sum)
    dt = params.dtype.type
    _adagrad_kernel[_grid(params), THREADS](params, state_sum, grads, seg_start, seg_end, seg_lr, seg_wd,
                                            seg_l1, dt(eps), _sign(dt, maximize))


@cuda.jit
def _rmsprop_kernel(params, square_avg, grad_avg, buf, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, alpha,
                    c_alpha, inside, outside, mu, centered, use_buf, nesterov, sg):
    """RMSProp, every array (N,) (unused state buffers may be empty): r = alpha r + (1 - alpha) g^2; centered:
    ga += (1 - alpha)(g - ga), r~ = r - ga^2; den = sqrt(r~ + inside) + outside. nesterov (Alg. 8.6):
    v = mu v - lr g / den, p += mu v - lr g / den; else use_buf: b = mu b + g / den, p -= lr b; else
    p -= lr g / den."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m = _block_chunk(params.size, seg_start, seg_end, lst, cnt)
    dt = params.dtype.type
    for j in range(PER_THREAD):
        i = _element(a, j)
        s = _segment_of(i, b, seg_start, seg_end, lst, m)
        if s >= 0:
            p, lr = params[i], dt(seg_lr[s])
            g = _grad(p, grads[i], sg, dt(seg_wd[s]), dt(seg_l1[s]))
            r = alpha * square_avg[i] + c_alpha * g * g
            square_avg[i] = r
            if centered:
                ga = grad_avg[i] + c_alpha * (g - grad_avg[i])
                grad_avg[i] = ga
                r = r - ga * ga
            den = math.sqrt(r + inside) + outside
            if nesterov:
                step = lr * g / den
                v = mu * buf[i] - step
                buf[i] = v
                params[i] = p + (mu * v - step)
            elif use_buf:
                v = mu * buf[i] + g / den
                buf[i] = v
                params[i] = p - lr * v
            else:
                params[i] = p - lr * (g / den)


def _rmsprop(name, params, square_avg, grad_avg, buf, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, alpha, eps,
             momentum, centered, eps_inside, maximize, nesterov):
    _check(name, params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, square_avg=square_avg,
           grad_avg=grad_avg, **{"velocity" if nesterov else "momentum_buffer": buf})
    dt = params.dtype.type
    zero, e = dt(0.0), dt(eps)
    inside, outside = (e, zero) if eps_inside else (zero, e)
    _rmsprop_kernel[_grid(params), THREADS](params, square_avg, grad_avg, buf, grads, seg_start, seg_end,
                                            seg_lr, seg_wd, seg_l1, dt(alpha), dt(1.0 - alpha), inside,
                                            outside, dt(momentum), bool(centered), bool(momentum > 0),
                                            bool(nesterov), _sign(dt, maximize))


def rmsprop_update(params, square_avg, grad_avg, momentum_buffer, grads, seg_start, seg_end, seg_lr, seg_wd,
                   seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    _rmsprop("rmsprop_update", params, square_avg, grad_avg, momentum_buffer, grads, seg_start, seg_end, seg_lr,
             seg_wd, seg_l1, alpha, eps, momentum, centered, eps_inside, maximize, False)


def rmsprop_nesterov_update(params, square_avg, grad_avg, velocity, grads, seg_start, seg_end, seg_lr, seg_wd,
                            seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    _rmsprop("rmsprop_nesterov_update", params, square_avg, grad_avg, velocity, grads, seg_start, seg_end, seg_lr,
             seg_wd, seg_l1, alpha, eps, momentum, centered, eps_inside, maximize, True)


# ------------------------------------------------------------------------------- Adam, AdaMax, NAdam


@cuda.jit
def _adam_kernel(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1,
                 b2, c1, c2, eps, inv_bc1, inv_sqrt_bc2, amsgrad, decoupled, sg):
    """Adam/AdamW, every array (N,) (max_exp_avg_sq may be empty without amsgrad): m += (1 - b1)(g - m);
    v = b2 v + (1 - b2) g^2; amsgrad: vmax = max(vmax, v); p = p d - (lr / bc1) m / (sqrt(v or vmax) / sqrt(bc2)
    + eps) with d = 1 - lr wd and no wd in g when decoupled (d = 1 otherwise)."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m_ = _block_chunk(params.size, seg_start, seg_end, lst, cnt)
    dt = params.dtype.type
    for j in range(PER_THREAD):
        i = _element(a, j)
        s = _segment_of(i, b, seg_start, seg_end, lst, m_)
        if s >= 0:
            p, lr, wd = params[i], dt(seg_lr[s]), dt(seg_wd[s])
            decay, wd = _decay(lr, wd, decoupled, dt(1.0))
            g = _grad(p, grads[i], sg, wd, dt(seg_l1[s]))
            m = exp_avg[i] + c1 * (g - exp_avg[i])
            v = b2 * exp_avg_sq[i] + c2 * g * g
            exp_avg[i] = m
            exp_avg_sq[i] = v
            if amsgrad:
                v = _nanmax(max_exp_avg_sq[i], v)
                max_exp_avg_sq[i] = v
            params[i] = p * decay - lr * inv_bc1 * m / (math.sqrt(v) * inv_sqrt_bc2 + eps)


def adam_update(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1,
                beta1, beta2, eps, bc1, bc2, amsgrad, decoupled, maximize):
    _check("adam_update", params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, exp_avg=exp_avg,
           exp_avg_sq=exp_avg_sq, max_exp_avg_sq=max_exp_avg_sq)
    dt = params.dtype.type
    _adam_kernel[_grid(params), THREADS](params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, seg_start,
                                         seg_end, seg_lr, seg_wd, seg_l1, dt(beta2), dt(1.0 - beta1),
                                         dt(1.0 - beta2), dt(eps), dt(1.0 / bc1),
                                         dt(1.0 / math.sqrt(bc2)), bool(amsgrad), bool(decoupled),
                                         _sign(dt, maximize))


@cuda.jit
def _adamax_kernel(params, exp_avg, exp_inf, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, b2, c1, eps, inv_bc1,
                   sg):
    """AdaMax, every array (N,): m += (1 - b1)(g - m); u = max(b2 u, |g| + eps); p -= (lr / bc1) m / u."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m_ = _block_chunk(params.size, seg_start, seg_end, lst, cnt)
    dt = params.dtype.type
    for j in range(PER_THREAD):
        i = _element(a, j)
        s = _segment_of(i, b, seg_start, seg_end, lst, m_)
        if s >= 0:
            p = params[i]
            g = _grad(p, grads[i], sg, dt(seg_wd[s]), dt(seg_l1[s]))
            m = exp_avg[i] + c1 * (g - exp_avg[i])
            u = _nanmax(b2 * exp_inf[i], abs(g) + eps)
            exp_avg[i] = m
            exp_inf[i] = u
            params[i] = p - dt(seg_lr[s]) * inv_bc1 * m / u


def adamax_update(params, exp_avg, exp_inf, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1, beta2, eps,
                  bc1, maximize):
    _check("adamax_update", params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, exp_avg=exp_avg,
           exp_inf=exp_inf)
    dt = params.dtype.type
    _adamax_kernel[_grid(params), THREADS](params, exp_avg, exp_inf, grads, seg_start, seg_end, seg_lr,
                                           seg_wd, seg_l1, dt(beta2), dt(1.0 - beta1), dt(eps),
                                           dt(1.0 / bc1), _sign(dt, maximize))


@cuda.jit
def _nadam_kernel(params, exp_avg, exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, b2, c1, c2, eps,
                  inv_bc2, c_grad, c_avg, decoupled, sg):
    """NAdam, every array (N,): m, v as Adam; p = p d - lr (c_grad g + c_avg m) / (sqrt(v / bc2) + eps), with
    d = 1 - lr wd and no wd in g when decoupled (d = 1 otherwise)."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m_ = _block_chunk(params.size, seg_start, seg_end, lst, cnt)
    dt = params.dtype.type
    for j in range(PER_THREAD):
        i = _element(a, j)
        s = _segment_of(i, b, seg_start, seg_end, lst, m_)
        if s >= 0:
            p, lr, wd = params[i], dt(seg_lr[s]), dt(seg_wd[s])
            decay, wd = _decay(lr, wd, decoupled, dt(1.0))
            g = _grad(p, grads[i], sg, wd, dt(seg_l1[s]))
            m = exp_avg[i] + c1 * (g - exp_avg[i])
            v = b2 * exp_avg_sq[i] + c2 * g * g
            exp_avg[i] = m
            exp_avg_sq[i] = v
            params[i] = p * decay - (lr * c_grad * g + lr * c_avg * m) / (math.sqrt(v * inv_bc2) + eps)


def nadam_update(params, exp_avg, exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1, beta2, eps,
                 bc2, c_grad, c_avg, decoupled, maximize):
    _check("nadam_update", params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, exp_avg=exp_avg,
           exp_avg_sq=exp_avg_sq)
    dt = params.dtype.type
    _nadam_kernel[_grid(params), THREADS](params, exp_avg, exp_avg_sq, grads, seg_start, seg_end, seg_lr,
                                          seg_wd, seg_l1, dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2),
                                          dt(eps), dt(1.0 / bc2), dt(c_grad), dt(c_avg), bool(decoupled),
                                          _sign(dt, maximize))


# ------------------------------------------------------------------------------------ launch helpers


def _check(kernel, params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, **state):
    require_device(kernel, params=params, **state, grads=grads, seg_start=seg_start, seg_end=seg_end, seg_lr=seg_lr,
                   seg_wd=seg_wd, seg_l1=seg_l1)


def _grid(x) -> int:
    """Blocks of the segment-table kernels: one per CHUNK elements of the whole buffer."""
    return blocks(x.size, CHUNK)


def _sign(dt, maximize):
    """The gradient's sign in the array dtype: -1 for maximize."""
    return dt(-1.0) if maximize else dt(1.0)


# A GPU launch is always parallel: the CPU layout's *_parallel names are the same launchers.
sgd_update_parallel = sgd_update
momentum_update_parallel = momentum_update
adagrad_update_parallel = adagrad_update
rmsprop_update_parallel = rmsprop_update
rmsprop_nesterov_update_parallel = rmsprop_nesterov_update
adam_update_parallel = adam_update
adamax_update_parallel = adamax_update
nadam_update_parallel = nadam_update
