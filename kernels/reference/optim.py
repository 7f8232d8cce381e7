"""Optimizer updates over a flat parameter buffer, one segment table for per-group settings.

Segments s cover params[start[s]:end[s]] with learning rate lr[s] and L2 weight decay wd[s]
(PyTorch's coupled form g <- g + wd*p). Frozen groups are simply absent from the table.

sgd (PyTorch convention):   g <- g + wd p;  v <- g (first step) else mu v + (1 - dampening) g
                            d <- g + mu v (nesterov) else v (mu > 0) else g;   p <- p - lr d
adam (bias-corrected):      g <- g + wd p;  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
                            p <- p - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),  bc_i = 1 - b_i^t
All 1-D float arrays of equal length; host passes bc1, bc2 as float64 scalars.
"""

import numpy as np

__all__ = ["sgd_update", "adam_update"]


def sgd_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, momentum, dampening, nesterov,
               first_step):
    for s in range(len(seg_start)):
        sl = slice(seg_start[s], seg_end[s])
        p, g = params[sl], grads[sl] + seg_wd[s] * params[sl]
        if momentum != 0:
            v = velocity[sl]
            v[...] = g if first_step else momentum * v + (1 - dampening) * g
            g = g + momentum * v if nesterov else v.copy()
        p -= seg_lr[s] * g


def adam_update(params, m, v, grads, seg_start, seg_end, seg_lr, seg_wd, beta1, beta2, eps, bc1, bc2):
    for s in range(len(seg_start)):
        sl = slice(seg_start[s], seg_end[s])
        g = grads[sl] + seg_wd[s] * params[sl]
        m[sl] = beta1 * m[sl] + (1 - beta1) * g
        v[sl] = beta2 * v[sl] + (1 - beta2) * g * g
        params[sl] -= (seg_lr[s] / bc1) * m[sl] / (np.sqrt(v[sl]) / np.sqrt(bc2) + eps)
