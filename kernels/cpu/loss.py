"""Fused, stable softmax + cross-entropy (formulas: kernels/reference/loss.py).

logits, probs, dlogits (N, K) float; labels int64 (N,), validated in [0, K) by the caller; losses (N,).
"""

import math

from kernels.cpu._jit import jit

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


@jit
def softmax_cross_entropy_forward(losses, probs, logits, labels):
    n, k = logits.shape
    for i in range(n):
        m = logits[i, 0]
        for j in range(1, k):
            m = max(m, logits[i, j])
        s = 0.0
        for j in range(k):
            e = math.exp(logits[i, j] - m)
            probs[i, j] = e
            s += e
        inv = 1.0 / s
        for j in range(k):
            probs[i, j] *= inv
        losses[i] = m + math.log(s) - logits[i, labels[i]]


@jit
def softmax_cross_entropy_backward(dlogits, probs, labels, scale):
    n, k = probs.shape
    for i in range(n):
        for j in range(k):
            dlogits[i, j] = scale * probs[i, j]
        dlogits[i, labels[i]] -= scale
