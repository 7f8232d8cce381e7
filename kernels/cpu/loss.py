"""Fused, stable softmax + cross-entropy (formulas: kernels/reference/loss.py).

logits, probs, dlogits (N, K) float; labels int64 (N,), validated in [0, K) by the caller; losses (N,).
The weighted / ignoring cross-entropy and NLL accept labels == ignore_index as well; weight (K,).
Elementwise losses take flat (n,) arrays (bce_with_logits: (M, C) with pos_weight (C,)) and ``dloss``
of shape (n,) or (1,) (broadcast). Serial below PARALLEL_MIN logits (thread wake-up costs more than the
work); the (weighted) softmax cross-entropy switches to prange over rows of the same serial row helper
above it. That switch is made in Python (the exported name is a plain function calling one of two jitted
drivers): a jitted switch would compile the prange driver for every size, about 2 s of cold compile that
LeNet-sized batches never use. The row helpers use ``exp_`` (kernels/cpu/_expf.py): a vectorizable float32 exp, since
``math.exp`` is a scalar libm call per element here (no SVML).
"""

import math

import numpy as np
from numba import prange

from kernels.cpu._expf import exp_
from kernels.cpu._jit import jit, pjit

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "cross_entropy_forward",
           "cross_entropy_backward", "nll_forward", "nll_backward", "mse_forward", "mse_backward", "l1_forward",
           "l1_backward", "bce_forward", "bce_backward", "bce_with_logits_forward", "bce_with_logits_backward",
           "kl_div_forward", "kl_div_backward", "distillation_forward", "distillation_backward",
           "accuracy_count"]


#: below this many logits the kernels run serially (thread wake-up costs more than the work); above it,
#: prange over rows of the same serial row helper
PARALLEL_MIN = 1 << 15


@jit
def _row_max(z, i):
    """max_j z[i, j] with 8 independent accumulators (a single running max is a serial dependency chain
    that does not vectorize). NaN entries are skipped here; they still reach the loss through exp."""
    k = z.shape[1]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = z[i, 0]
    j = 0
    while j + 8 <= k:
        v0, v1, v2, v3 = z[i, j], z[i, j + 1], z[i, j + 2], z[i, j + 3]
        v4, v5, v6, v7 = z[i, j + 4], z[i, j + 5], z[i, j + 6], z[i, j + 7]
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
        m4 = v4 if v4 > m4 else m4
        m5 = v5 if v5 > m5 else m5
        m6 = v6 if v6 > m6 else m6
        m7 = v7 if v7 > m7 else m7
        j += 8
    for jj in range(j, k):
        v = z[i, jj]
        m0 = v if v > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    m4 = m5 if m5 > m4 else m4
    m6 = m7 if m7 > m6 else m6
    m0 = m2 if m2 > m0 else m0
    m4 = m6 if m6 > m4 else m4
    return m4 if m4 > m0 else m0


@jit
def _sce_row(losses, probs, logits, labels, i):
    k = logits.shape[1]
    m = _row_max(logits, i)
    probs[i, 0] = 0
    s = probs[i, 0]  # 0 in the logits' dtype: a float32 sum keeps the exp loop in 32-bit lanes (16 per vector)
    for j in range(k):
        e = exp_(logits[i, j] - m)
        probs[i, j] = e
        s += e
    inv = 1.0 / s
    for j in range(k):
        probs[i, j] *= inv
    # in float64, (m - z_y) first: m + log(s) rounded to float32 loses log(s) next to a logit of 1000
    losses[i] = (np.float64(m) - np.float64(logits[i, labels[i]])) + math.log(np.float64(s))


@jit
def _sce_forward_serial(losses, probs, logits, labels):
    for i in range(logits.shape[0]):
        _sce_row(losses, probs, logits, labels, i)


@pjit
def _sce_forward_parallel(losses, probs, logits, labels):
    for i in prange(logits.shape[0]):
        _sce_row(losses, probs, logits, labels, i)


def softmax_cross_entropy_forward(losses, probs, logits, labels):
    driver = _sce_forward_serial if logits.size < PARALLEL_MIN else _sce_forward_parallel
    driver(losses, probs, logits, labels)


@jit
def _sce_backward_row(dlogits, probs, labels, scale, i):
    for j in range(probs.shape[1]):
        dlogits[i, j] = scale * probs[i, j]
    dlogits[i, labels[i]] -= scale


@jit
def _sce_backward_serial(dlogits, probs, labels, scale):
    for i in range(probs.shape[0]):
        _sce_backward_row(dlogits, probs, labels, scale, i)


@pjit
def _sce_backward_parallel(dlogits, probs, labels, scale):
    for i in prange(probs.shape[0]):
        _sce_backward_row(dlogits, probs, labels, scale, i)


def softmax_cross_entropy_backward(dlogits, probs, labels, scale):
    driver = _sce_backward_serial if probs.size < PARALLEL_MIN else _sce_backward_parallel
    driver(dlogits, probs, labels, scale)


@jit
def _ce_row(losses, probs, logits, labels, weight, ignore_index, label_smoothing, i):
    k = logits.shape[1]
    m = _row_max(logits, i)
    probs[i, 0] = 0
    s = probs[i, 0]  # 0 in the logits' dtype: a float32 sum keeps the exp loop in 32-bit lanes (16 per vector)
    for j in range(k):
        e = exp_(logits[i, j] - m)
        probs[i, j] = e
        s += e
    inv = 1.0 / s
    for j in range(k):
        probs[i, j] *= inv
    y = labels[i]
    if y == ignore_index:
        losses[i] = 0
        return
    c = np.float64(m) + math.log(np.float64(s))  # lse, in float64 (see _sce_row)
    loss = (1 - label_smoothing) * weight[y] * (c - logits[i, y])
    if label_smoothing != 0:
        smooth = 0.0
        for j in range(k):
            smooth += weight[j] * (c - logits[i, j])
        loss += label_smoothing / k * smooth
    losses[i] = loss


@jit
def _ce_forward_serial(losses, probs, logits, labels, weight, ignore_index, label_smoothing):
    for i in range(logits.shape[0]):
        _ce_row(losses, probs, logits, labels, weight, ignore_index, label_smoothing, i)


@pjit
def _ce_forward_parallel(losses, probs, logits, labels, weight, ignore_index, label_smoothing):
    for i in prange(logits.shape[0]):
        _ce_row(losses, probs, logits, labels, weight, ignore_index, label_smoothing, i)


def cross_entropy_forward(losses, probs, logits, labels, weight, ignore_index, label_smoothing):
    driver = _ce_forward_serial if logits.size < PARALLEL_MIN else _ce_forward_parallel
    driver(losses, probs, logits, labels, weight, ignore_index, label_smoothing)


@jit
def _ce_backward_row(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing, wsum, i):
    k = probs.shape[1]
    y = labels[i]
    if y == ignore_index:
        for j in range(k):
            dlogits[i, j] = 0
        return
    eps_k = label_smoothing / k
    g = dloss[i]
    hard = (1 - label_smoothing) * weight[y]
    c = hard + eps_k * wsum
    for j in range(k):
        dlogits[i, j] = g * (c * probs[i, j] - eps_k * weight[j])
    dlogits[i, y] -= g * hard


@jit
def _weight_sum(weight):
    wsum = 0.0
    for j in range(weight.size):
        wsum += weight[j]
    return wsum


@jit
def _ce_backward_serial(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing):
    wsum = _weight_sum(weight)
    for i in range(probs.shape[0]):
        _ce_backward_row(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing, wsum, i)


@pjit
def _ce_backward_parallel(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing):
    wsum = _weight_sum(weight)
    for i in prange(probs.shape[0]):
        _ce_backward_row(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing, wsum, i)


def cross_entropy_backward(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing):
    driver = _ce_backward_serial if probs.size < PARALLEL_MIN else _ce_backward_parallel
    driver(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing)


@jit
def nll_forward(losses, input, labels, weight, ignore_index):
    for i in range(labels.size):
        y = labels[i]
        losses[i] = 0 if y == ignore_index else -weight[y] * input[i, y]


@jit
def nll_backward(dinput, labels, weight, dloss, ignore_index):
    n, k = dinput.shape
    for i in range(n):
        for j in range(k):
            dinput[i, j] = 0
        y = labels[i]
        if y != ignore_index:
            dinput[i, y] = -weight[y] * dloss[i]


@jit
def mse_forward(losses, input, target):
    for i in range(input.size):
        d = input[i] - target[i]
        losses[i] = d * d


@jit
def mse_backward(dinput, input, target, dloss):
    if dloss.size == 1:
        g2 = 2 * dloss[0]
        for i in range(input.size):
            dinput[i] = g2 * (input[i] - target[i])
    else:
        for i in range(input.size):
            dinput[i] = 2 * dloss[i] * (input[i] - target[i])


@jit
def l1_forward(losses, input, target):
    for i in range(input.size):
        losses[i] = abs(input[i] - target[i])


@jit
def _sign(v):
    return 1.0 if v > 0 else (-1.0 if v < 0 else (0.0 if v == 0 else v))  # NaN stays NaN


@jit
def l1_backward(dinput, input, target, dloss):
    one = dloss.size == 1
    for i in range(input.size):
        dinput[i] = _sign(input[i] - target[i]) * dloss[0 if one else i]


@jit
def bce_forward(losses, input, target):
    for i in range(input.size):
        x = input[i]
        lx = math.log(x) if x > 0 else -math.inf
        l1x = math.log1p(-x) if x < 1 else -math.inf
        losses[i] = -(target[i] * max(lx, -100.0) + (1 - target[i]) * max(l1x, -100.0))


@jit
def bce_backward(dinput, input, target, dloss):
    one = dloss.size == 1
    for i in range(input.size):
        x = input[i]
        dinput[i] = dloss[0 if one else i] * (x - target[i]) / max(x * (1 - x), 1e-12)


@jit
def bce_with_logits_forward(losses, input, target, pos_weight):
    m, c = input.shape
    for i in range(m):
        for j in range(c):
            x = input[i, j]
            t = target[i, j]
            lw = 1 + (pos_weight[j] - 1) * t
            losses[i, j] = (1 - t) * x + lw * (max(-x, 0.0) + math.log1p(math.exp(-abs(x))))


@jit
def bce_with_logits_backward(dinput, input, target, pos_weight, dloss):
    m, c = input.shape
    one = dloss.size == 1
    for i in range(m):
        for j in range(c):
            x = input[i, j]
            t = target[i, j]
            lw = 1 + (pos_weight[j] - 1) * t
            e = math.exp(-abs(x))
            sig_neg = e / (1 + e) if x >= 0 else 1 / (1 + e)
            dinput[i, j] = dloss[0 if one else i * c + j] * ((1 - t) - lw * sig_neg)


@jit
def kl_div_forward(losses, input, target, log_target):
    for i in range(input.size):
        t = target[i]
        if log_target:
            losses[i] = math.exp(t) * (t - input[i])
        else:
            losses[i] = (0.0 if t == 0 else t * math.log(t)) - t * input[i]


@jit
def kl_div_backward(dinput, target, dloss, log_target):
    one = dloss.size == 1
    for i in range(target.size):
        t = math.exp(target[i]) if log_target else target[i]
        dinput[i] = -t * dloss[0 if one else i]


@jit
def _log_softmax_row(out, z, inv_t):
    """out = log_softmax(z * inv_t) for one row."""
    k = z.size
    m = z[0] * inv_t
    for j in range(1, k):
        m = max(m, z[j] * inv_t)
    s = 0.0
    for j in range(k):
        s += math.exp(z[j] * inv_t - m)
    lse = m + math.log(s)
    for j in range(k):
        out[j] = z[j] * inv_t - lse


@jit
def distillation_forward(losses, probs, soft_student, soft_teacher, student, teacher, labels, temperature, alpha):
    n, k = student.shape
    inv_t = 1.0 / temperature
    for i in range(n):
        _log_softmax_row(probs[i], student[i], 1.0)
        _log_softmax_row(soft_student[i], student[i], inv_t)
        _log_softmax_row(soft_teacher[i], teacher[i], inv_t)
        ce = -probs[i, labels[i]]
        kl = 0.0
        for j in range(k):
            lp = soft_teacher[i, j]
            p = math.exp(lp)
            kl += p * (lp - soft_student[i, j])
            probs[i, j] = math.exp(probs[i, j])
            soft_student[i, j] = math.exp(soft_student[i, j])
            soft_teacher[i, j] = p
        losses[i] = (1 - alpha) * ce + alpha * temperature * temperature * kl


@jit
def distillation_backward(dstudent, probs, soft_student, soft_teacher, labels, dloss, temperature, alpha):
    n, k = probs.shape
    for i in range(n):
        g = dloss[i]
        for j in range(k):
            dstudent[i, j] = g * ((1 - alpha) * probs[i, j] + alpha * temperature * (soft_student[i, j]
                                                                                    - soft_teacher[i, j]))
        dstudent[i, labels[i]] -= g * (1 - alpha)


@jit
def accuracy_count(out, logits, labels):
    """out[0] = #{i : argmax_k logits[i, k] == labels[i]}, argmax as np.argmax (first maximum, NaN wins)."""
    n, k = logits.shape
    count = 0
    for i in range(n if k else 0):
        best, arg = logits[i, 0], 0
        for j in range(1, k):
            if best != best:
                break
            v = logits[i, j]
            if v > best or v != v:
                best, arg = v, j
        count += arg == labels[i]
    out[0] = count
