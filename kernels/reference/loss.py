"""Softmax + cross-entropy, fused and numerically stable (log-sum-exp).

forward:  m_i = max_k z_ik;  lse_i = m_i + log sum_k exp(z_ik - m_i)
          losses_i = lse_i - z_i,y_i ;  probs_ik = exp(z_ik - lse_i)
backward: dz_ik = scale * (probs_ik - [k == y_i])     (scale = 1/N for a mean loss)
logits, probs, dlogits (N, K); labels int64 (N,) in [0, K); losses (N,).
"""

import numpy as np

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


def softmax_cross_entropy_forward(losses, probs, logits, labels):
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    # lse - z_y summed as (m - z_y) + log(s): no cancellation of two large numbers in float32
    losses[...] = (m[:, 0] - logits[np.arange(len(labels)), labels]) + np.log(s[:, 0])
    probs[...] = e / s  # == exp(z - lse), without lse's rounding (|lse| * eps) when logits are large


def softmax_cross_entropy_backward(dlogits, probs, labels, scale):
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(labels)), labels] = 1
    dlogits[...] = scale * (probs - onehot)
