"""Fused optimizer updates over the flat parameter buffer (formulas and shapes: kernels/reference/optim.py).

One call updates every segment of the model. Each rule is a ``_<rule>_range`` loop over one
contiguous stretch plus two drivers with identical signatures:

* ``<rule>_update``: serial, walks the segment table (best below ~1M parameters: no thread wake-up);
* ``<rule>_update_parallel``: ``prange`` over fixed chunks of the buffer, each chunk intersected with
  every segment, so the result is elementwise identical to the serial driver for any thread count.

Speed notes (measured on the 2-core AMD EPYC dev machine, LeNet-5's 61,706 float32 parameters):
the inner loops run over ``range(np.uint64(lo), np.uint64(hi))``: an unsigned index lets numba drop
its negative-index wraparound select, which otherwise blocks LLVM's loop vectorizer (Adam: 400 us ->
22 us). Per-segment scalars are cast once to the array dtype (``dt = params.dtype.type``) and
``np.sqrt`` (not ``math.sqrt``, which returns float64) keeps float32 arrays in float32 SIMD lanes.
Switches that change which buffers a loop touches (momentum, centered, amsgrad) select separate loops,
so an unused (empty) buffer never enters LLVM's runtime alias checks; the others (nesterov, maximize,
decoupled) are loop-invariant values or branches.
"""

import math

import numpy as np
from numba import prange

from kernels.cpu._jit import jit, pjit

__all__ = ["sgd_update", "momentum_update", "adagrad_update", "rmsprop_update", "rmsprop_nesterov_update",
           "adam_update", "adamax_update", "nadam_update",
           "sgd_update_parallel", "momentum_update_parallel", "adagrad_update_parallel", "rmsprop_update_parallel",
           "rmsprop_nesterov_update_parallel", "adam_update_parallel", "adamax_update_parallel",
           "nadam_update_parallel", "PARALLEL_CHUNK"]

PARALLEL_CHUNK = 1 << 16  # elements per prange task (256 KiB of float32 per buffer)


@jit
def _span(seg_start, seg_end):
    """(lo, hi, number of PARALLEL_CHUNK chunks) of the buffer stretch the segment table spans."""
    if seg_start.size == 0:
        return 0, 0, 0
    lo, hi = seg_start.min(), seg_end.max()
    return lo, hi, (hi - lo + PARALLEL_CHUNK - 1) // PARALLEL_CHUNK


@jit
def _chunk(seg_start, seg_end, lo, hi, c, s):
    """The part [x, y) of segment s inside chunk c (x >= y when they do not meet)."""
    a = lo + c * PARALLEL_CHUNK
    b = min(a + PARALLEL_CHUNK, hi)
    return max(a, seg_start[s]), min(b, seg_end[s])


# --------------------------------------------------------------------------------------------- SGD


@jit
def _sgd_range(params, velocity, grads, lo, hi, lr, wd, l1, momentum, dampening, nesterov, maximize, first_step):
    dt = params.dtype.type
    zero, sg = dt(0.0), dt(-1.0) if maximize else dt(1.0)
    lr_, wd_, l1_, mu, damp = dt(lr), dt(wd), dt(l1), dt(momentum), dt(1.0 - dampening)
    if momentum == 0:
        for i in range(np.uint64(lo), np.uint64(hi)):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            params[i] = p - lr_ * g
    elif first_step:
        for i in range(np.uint64(lo), np.uint64(hi)):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            velocity[i] = g
            params[i] = p - lr_ * (g + mu * g if nesterov else g)
    else:
        for i in range(np.uint64(lo), np.uint64(hi)):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            b = mu * velocity[i] + damp * g
            velocity[i] = b
            params[i] = p - lr_ * (g + mu * b if nesterov else b)


@jit
def sgd_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum, dampening,
               nesterov, maximize, first_step):
    for s in range(seg_start.size):
        _sgd_range(params, velocity, grads, seg_start[s], seg_end[s], seg_lr[s], seg_wd[s], seg_l1[s], momentum,
                   dampening, nesterov, maximize, first_step)


@pjit
def sgd_update_parallel(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum, dampening,
                        nesterov, maximize, first_step):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _sgd_range(params, velocity, grads, x, y, seg_lr[s], seg_wd[s], seg_l1[s], momentum, dampening,
                           nesterov, maximize, first_step)


@jit
def _momentum_range(params, velocity, grads, lo, hi, lr, wd, l1, momentum, nesterov, maximize):
    dt = params.dtype.type
    zero, sg = dt(0.0), dt(-1.0) if maximize else dt(1.0)
    lr_, wd_, l1_, a = dt(lr), dt(wd), dt(l1), dt(momentum)
    for i in range(np.uint64(lo), np.uint64(hi)):
        p = params[i]
        g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
        v = a * velocity[i] - lr_ * g
        velocity[i] = v
        params[i] = p + (a * v - lr_ * g if nesterov else v)


@jit
def momentum_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum, nesterov,
                    maximize):
    for s in range(seg_start.size):
        _momentum_range(params, velocity, grads, seg_start[s], seg_end[s], seg_lr[s], seg_wd[s], seg_l1[s],
                        momentum, nesterov, maximize)


@pjit
def momentum_update_parallel(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum,
                             nesterov, maximize):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _momentum_range(params, velocity, grads, x, y, seg_lr[s], seg_wd[s], seg_l1[s], momentum, nesterov,
                                maximize)


# ---------------------------------------------------------------------------------- AdaGrad, RMSProp


@jit
def _adagrad_range(params, state_sum, grads, lo, hi, lr, wd, l1, eps, maximize):
    dt = params.dtype.type
    zero, sg = dt(0.0), dt(-1.0) if maximize else dt(1.0)
    lr_, wd_, l1_, eps_ = dt(lr), dt(wd), dt(l1), dt(eps)
    for i in range(np.uint64(lo), np.uint64(hi)):
        p = params[i]
        g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
        acc = state_sum[i] + g * g
        state_sum[i] = acc
        params[i] = p - lr_ * g / (np.sqrt(acc) + eps_)


@jit
def adagrad_update(params, state_sum, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, eps, maximize):
    for s in range(seg_start.size):
        _adagrad_range(params, state_sum, grads, seg_start[s], seg_end[s], seg_lr[s], seg_wd[s], seg_l1[s], eps,
                       maximize)


@pjit
def adagrad_update_parallel(params, state_sum, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, eps, maximize):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _adagrad_range(params, state_sum, grads, x, y, seg_lr[s], seg_wd[s], seg_l1[s], eps, maximize)


@jit
def _rmsprop_range(params, square_avg, grad_avg, buf, grads, lo, hi, lr, wd, l1, alpha, eps, momentum, centered,
                   eps_inside, maximize, nesterov):
    """RMSProp on [lo, hi). nesterov=False: PyTorch's form (buf = mu buf + g/den; p -= lr buf if mu > 0).
    nesterov=True: Alg. 8.6 reparametrized (buf = v = mu v - lr g/den; p += mu v - lr g/den).

    One loop per (centered, momentum form), each touching only the buffers it uses: an unused buffer (an
    empty array) inside the loop would enter LLVM's runtime alias check with the loop's trip count and,
    when its pointer lies near a real buffer, silently send every call down the scalar loop (9x slower)."""
    dt = params.dtype.type
    zero, sg = dt(0.0), dt(-1.0) if maximize else dt(1.0)
    lr_, wd_, l1_, eps_, mu = dt(lr), dt(wd), dt(l1), dt(eps), dt(momentum)
    a, ca = dt(alpha), dt(1.0 - alpha)
    outside, inside = (zero, eps_) if eps_inside else (eps_, zero)
    lo, hi = np.uint64(lo), np.uint64(hi)
    if centered:
        if nesterov:
            for i in range(lo, hi):
                p = params[i]
                g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
                r = a * square_avg[i] + ca * g * g
                ga = grad_avg[i] + ca * (g - grad_avg[i])
                square_avg[i], grad_avg[i] = r, ga
                step = lr_ * g / (np.sqrt(r - ga * ga + inside) + outside)
                v = mu * buf[i] - step
                buf[i] = v
                params[i] = p + (mu * v - step)
        elif momentum > 0:
            for i in range(lo, hi):
                p = params[i]
                g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
                r = a * square_avg[i] + ca * g * g
                ga = grad_avg[i] + ca * (g - grad_avg[i])
                square_avg[i], grad_avg[i] = r, ga
                b = mu * buf[i] + g / (np.sqrt(r - ga * ga + inside) + outside)
                buf[i] = b
                params[i] = p - lr_ * b
        else:
            for i in range(lo, hi):
                p = params[i]
                g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
                r = a * square_avg[i] + ca * g * g
                ga = grad_avg[i] + ca * (g - grad_avg[i])
                square_avg[i], grad_avg[i] = r, ga
                params[i] = p - lr_ * (g / (np.sqrt(r - ga * ga + inside) + outside))
    elif nesterov:
        for i in range(lo, hi):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            r = a * square_avg[i] + ca * g * g
            square_avg[i] = r
            step = lr_ * g / (np.sqrt(r + inside) + outside)
            v = mu * buf[i] - step
            buf[i] = v
            params[i] = p + (mu * v - step)
    elif momentum > 0:
        for i in range(lo, hi):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            r = a * square_avg[i] + ca * g * g
            square_avg[i] = r
            b = mu * buf[i] + g / (np.sqrt(r + inside) + outside)
            buf[i] = b
            params[i] = p - lr_ * b
    else:
        for i in range(lo, hi):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            r = a * square_avg[i] + ca * g * g
            square_avg[i] = r
            params[i] = p - lr_ * (g / (np.sqrt(r + inside) + outside))


@jit
def rmsprop_update(params, square_avg, grad_avg, momentum_buffer, grads, seg_start, seg_end, seg_lr, seg_wd,
                   seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    for s in range(seg_start.size):
        _rmsprop_range(params, square_avg, grad_avg, momentum_buffer, grads, seg_start[s], seg_end[s], seg_lr[s],
                       seg_wd[s], seg_l1[s], alpha, eps, momentum, centered, eps_inside, maximize, False)


@pjit
def rmsprop_update_parallel(params, square_avg, grad_avg, momentum_buffer, grads, seg_start, seg_end, seg_lr, seg_wd,
                            seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _rmsprop_range(params, square_avg, grad_avg, momentum_buffer, grads, x, y, seg_lr[s], seg_wd[s],
                               seg_l1[s], alpha, eps, momentum, centered, eps_inside, maximize, False)


@jit
def rmsprop_nesterov_update(params, square_avg, grad_avg, velocity, grads, seg_start, seg_end, seg_lr, seg_wd,
                            seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    for s in range(seg_start.size):
        _rmsprop_range(params, square_avg, grad_avg, velocity, grads, seg_start[s], seg_end[s], seg_lr[s],
                       seg_wd[s], seg_l1[s], alpha, eps, momentum, centered, eps_inside, maximize, True)


@pjit
def rmsprop_nesterov_update_parallel(params, square_avg, grad_avg, velocity, grads, seg_start, seg_end, seg_lr,
                                     seg_wd, seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _rmsprop_range(params, square_avg, grad_avg, velocity, grads, x, y, seg_lr[s], seg_wd[s],
                               seg_l1[s], alpha, eps, momentum, centered, eps_inside, maximize, True)


# ------------------------------------------------------------------------------- Adam, AdaMax, NAdam


@jit
def _adam_range(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, lo, hi, lr, wd, l1, beta1, beta2, eps, bc1,
                bc2, amsgrad, decoupled, maximize):
    """Adam on [lo, hi); two loops so that max_exp_avg_sq (empty without amsgrad) is never in the plain one
    (see _rmsprop_range on runtime alias checks)."""
    dt = params.dtype.type
    zero, sg = dt(0.0), dt(-1.0) if maximize else dt(1.0)
    step, inv_bc2 = dt(lr / bc1), dt(1.0 / math.sqrt(bc2))
    wd_, decay = (zero, dt(1.0 - lr * wd)) if decoupled else (dt(wd), dt(1.0))
    l1_, eps_, b2, c1, c2 = dt(l1), dt(eps), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2)
    if amsgrad:
        for i in range(np.uint64(lo), np.uint64(hi)):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            m = exp_avg[i] + c1 * (g - exp_avg[i])
            v = b2 * exp_avg_sq[i] + c2 * g * g
            exp_avg[i], exp_avg_sq[i] = m, v
            vmax = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = vmax
            params[i] = p * decay - step * m / (np.sqrt(vmax) * inv_bc2 + eps_)
    else:
        for i in range(np.uint64(lo), np.uint64(hi)):
            p = params[i]
            g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
            m = exp_avg[i] + c1 * (g - exp_avg[i])
            v = b2 * exp_avg_sq[i] + c2 * g * g
            exp_avg[i], exp_avg_sq[i] = m, v
            params[i] = p * decay - step * m / (np.sqrt(v) * inv_bc2 + eps_)


@jit
def adam_update(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1,
                beta1, beta2, eps, bc1, bc2, amsgrad, decoupled, maximize):
    for s in range(seg_start.size):
        _adam_range(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, seg_start[s], seg_end[s], seg_lr[s],
                    seg_wd[s], seg_l1[s], beta1, beta2, eps, bc1, bc2, amsgrad, decoupled, maximize)


@pjit
def adam_update_parallel(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd,
                         seg_l1, beta1, beta2, eps, bc1, bc2, amsgrad, decoupled, maximize):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _adam_range(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, x, y, seg_lr[s], seg_wd[s],
                            seg_l1[s], beta1, beta2, eps, bc1, bc2, amsgrad, decoupled, maximize)


@jit
def _adamax_range(params, exp_avg, exp_inf, grads, lo, hi, lr, wd, l1, beta1, beta2, eps, bc1, maximize):
    dt = params.dtype.type
    zero, sg = dt(0.0), dt(-1.0) if maximize else dt(1.0)
    step, wd_, l1_, eps_ = dt(lr / bc1), dt(wd), dt(l1), dt(eps)
    b2, c1 = dt(beta2), dt(1.0 - beta1)
    for i in range(np.uint64(lo), np.uint64(hi)):
        p = params[i]
        g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
        m = exp_avg[i] + c1 * (g - exp_avg[i])
        u = max(b2 * exp_inf[i], abs(g) + eps_)
        exp_avg[i] = m
        exp_inf[i] = u
        params[i] = p - step * m / u


@jit
def adamax_update(params, exp_avg, exp_inf, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1, beta2, eps,
                  bc1, maximize):
    for s in range(seg_start.size):
        _adamax_range(params, exp_avg, exp_inf, grads, seg_start[s], seg_end[s], seg_lr[s], seg_wd[s], seg_l1[s],
                      beta1, beta2, eps, bc1, maximize)


@pjit
def adamax_update_parallel(params, exp_avg, exp_inf, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1,
                           beta2, eps, bc1, maximize):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _adamax_range(params, exp_avg, exp_inf, grads, x, y, seg_lr[s], seg_wd[s], seg_l1[s], beta1, beta2,
                              eps, bc1, maximize)


@jit
def _nadam_range(params, exp_avg, exp_avg_sq, grads, lo, hi, lr, wd, l1, beta1, beta2, eps, bc2, c_grad, c_avg,
                 decoupled, maximize):
    dt = params.dtype.type
    zero, sg = dt(0.0), dt(-1.0) if maximize else dt(1.0)
    wd_, decay = (zero, dt(1.0 - lr * wd)) if decoupled else (dt(wd), dt(1.0))
    l1_, eps_, b2, c1, c2 = dt(l1), dt(eps), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2)
    inv_bc2, kg, km = dt(1.0 / bc2), dt(lr * c_grad), dt(lr * c_avg)
    for i in range(np.uint64(lo), np.uint64(hi)):
        p = params[i]
        g = sg * grads[i] + wd_ * p + l1_ * (dt(p > zero) - dt(p < zero))
        m = exp_avg[i] + c1 * (g - exp_avg[i])
        v = b2 * exp_avg_sq[i] + c2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        params[i] = p * decay - (kg * g + km * m) / (np.sqrt(v * inv_bc2) + eps_)


@jit
def nadam_update(params, exp_avg, exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1, beta2, eps,
                 bc2, c_grad, c_avg, decoupled, maximize):
    for s in range(seg_start.size):
        _nadam_range(params, exp_avg, exp_avg_sq, grads, seg_start[s], seg_end[s], seg_lr[s], seg_wd[s], seg_l1[s],
                     beta1, beta2, eps, bc2, c_grad, c_avg, decoupled, maximize)


@pjit
def nadam_update_parallel(params, exp_avg, exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1,
                          beta2, eps, bc2, c_grad, c_avg, decoupled, maximize):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for s in range(seg_start.size):
            x, y = _chunk(seg_start, seg_end, lo, hi, c, s)
            if x < y:
                _nadam_range(params, exp_avg, exp_avg_sq, grads, x, y, seg_lr[s], seg_wd[s], seg_l1[s], beta1,
                             beta2, eps, bc2, c_grad, c_avg, decoupled, maximize)
