"""Fused optimizer updates over the flat parameter buffer (formulas: kernels/reference/optim.py).

One call updates every segment of the model: params, state and grads are 1-D float32 arrays of
equal length; seg_start/seg_end int64 (S,), seg_lr/seg_wd float64 (S,).
"""

import math

from kernels.cpu._jit import jit

__all__ = ["sgd_update", "adam_update"]


@jit
def sgd_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, momentum, dampening, nesterov,
               first_step):
    for s in range(seg_start.size):
        lr = seg_lr[s]
        wd = seg_wd[s]
        for i in range(seg_start[s], seg_end[s]):
            g = grads[i] + wd * params[i]
            if momentum != 0:
                v = g if first_step else momentum * velocity[i] + (1 - dampening) * g
                velocity[i] = v
                g = g + momentum * v if nesterov else v
            params[i] -= lr * g


@jit
def adam_update(params, m, v, grads, seg_start, seg_end, seg_lr, seg_wd, beta1, beta2, eps, bc1, bc2):
    inv_sqrt_bc2 = 1.0 / math.sqrt(bc2)
    for s in range(seg_start.size):
        step = seg_lr[s] / bc1
        wd = seg_wd[s]
        for i in range(seg_start[s], seg_end[s]):
            g = grads[i] + wd * params[i]
            mi = beta1 * m[i] + (1 - beta1) * g
            vi = beta2 * v[i] + (1 - beta2) * g * g
            m[i] = mi
            v[i] = vi
            params[i] -= step * mi / (math.sqrt(vi) * inv_sqrt_bc2 + eps)
