"""Softmax + cross-entropy, fused and numerically stable (log-sum-exp).

forward:  m_i = max_k z_ik;  lse_i = m_i + log sum_k exp(z_ik - m_i)
          losses_i = lse_i - z_i,y_i ;  probs_ik = exp(z_ik - lse_i)
backward: dz_ik = scale * (probs_ik - [k == y_i])     (scale = 1/N for a mean loss)
logits, probs, dlogits (N, K); labels int64 (N,) in [0, K); losses (N,).

Weighted / smoothed / ignoring cross-entropy (PyTorch's semantics), eps = label_smoothing, w (K,):
  t_ik = (1 - eps) w_y [k == y_i] + eps/K w_k     (the weighted soft target; 0 when y_i == ignore_index)
  losses_i = sum_k t_ik (lse_i - z_ik);   dz_ik = dloss_i (c_i probs_ik - t_ik),  c_i = sum_k t_ik
  (PyTorch's "mean" is sum_i losses_i / sum_{i not ignored} w[y_i]: the caller folds that into dloss.)
NLL on log-probabilities x (N, K): losses_i = -w[y_i] x[i, y_i] (0 if ignored); dx[i, y_i] = -w[y_i] dloss_i.
Elementwise losses on flat arrays (losses, input, target (n,); ``dloss`` the upstream gradient of each
element's loss: shape (n,), or (1,) broadcast):
  mse: (x - t)^2 -> 2 (x - t);  l1: |x - t| -> sign(x - t)
  bce: -(t max(log x, -100) + (1 - t) max(log(1 - x), -100)) -> (x - t) / max(x (1 - x), 1e-12)
  bce_with_logits on (M, C) with pos_weight (C,) (pw = 1 for plain BCE), lw = 1 + (pw - 1) t:
     (1 - t) x + lw softplus(-x),  softplus(-x) = max(-x, 0) + log1p(exp(-|x|))  -> (1 - t) - lw sigmoid(-x)
  kl_div (input = log q): t log t - t x (0 where t = 0) -> -t;  log_target: e^t (t - x) -> -e^t
Distillation (student s, teacher t, T, alpha), per row:
  losses_i = (1 - alpha) (lse(s_i) - s_iy) + alpha T^2 sum_k p_ik (log p_ik - log q_ik),
  p = softmax(t/T), q = softmax(s/T);   ds_ik = dloss_i ((1 - alpha)(probs_ik - [k == y]) + alpha T (q_ik - p_ik))
accuracy_count: out[0] = #{i : argmax_k logits_ik == y_i} (np.argmax's ties and NaN); out int64 (1,), so a
device backend copies one scalar back per batch.
"""

import numpy as np

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "cross_entropy_forward",
           "cross_entropy_backward", "nll_forward", "nll_backward", "mse_forward", "mse_backward", "l1_forward",
           "l1_backward", "bce_forward", "bce_backward", "bce_with_logits_forward", "bce_with_logits_backward",
           "kl_div_forward", "kl_div_backward", "distillation_forward", "distillation_backward",
           "accuracy_count"]


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


def _soft_targets(labels, weight, ignore_index, label_smoothing, k):
    n = len(labels)
    keep = labels != ignore_index
    y = np.where(keep, labels, 0)
    t = np.zeros((n, k), dtype=np.float64)
    t[np.arange(n), y] = (1 - label_smoothing) * weight[y]
    t += label_smoothing / k * weight[None, :]
    t[~keep] = 0
    return t


def cross_entropy_forward(losses, probs, logits, labels, weight, ignore_index, label_smoothing):
    z = logits.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    nlogp = np.log(s) - (z - m)  # lse - z, >= 0
    t = _soft_targets(labels, weight, ignore_index, label_smoothing, logits.shape[1])
    losses[...] = (t * nlogp).sum(axis=1)
    probs[...] = e / s


def cross_entropy_backward(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing):
    t = _soft_targets(labels, weight, ignore_index, label_smoothing, probs.shape[1])
    c = t.sum(axis=1, keepdims=True)
    dlogits[...] = dloss[:, None] * (c * probs - t)


def nll_forward(losses, input, labels, weight, ignore_index):
    keep = labels != ignore_index
    y = np.where(keep, labels, 0)
    losses[...] = np.where(keep, -weight[y] * input[np.arange(len(labels)), y], 0)


def nll_backward(dinput, labels, weight, dloss, ignore_index):
    keep = labels != ignore_index
    y = np.where(keep, labels, 0)
    dinput[...] = 0
    dinput[np.arange(len(labels)), y] = np.where(keep, -weight[y] * dloss, 0)


def mse_forward(losses, input, target):
    losses[...] = (input - target) ** 2


def mse_backward(dinput, input, target, dloss):
    dinput[...] = 2 * (input - target) * dloss


def l1_forward(losses, input, target):
    losses[...] = np.abs(input - target)


def l1_backward(dinput, input, target, dloss):
    dinput[...] = np.sign(input - target) * dloss


def bce_forward(losses, input, target):
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(input), -100)
        log_1mx = np.maximum(np.log1p(-input), -100)
    losses[...] = -(target * log_x + (1 - target) * log_1mx)


def bce_backward(dinput, input, target, dloss):
    dinput[...] = dloss * (input - target) / np.maximum(input * (1 - input), 1e-12)


def bce_with_logits_forward(losses, input, target, pos_weight):
    lw = 1 + (pos_weight[None, :] - 1) * target
    sp = np.maximum(-input, 0) + np.log1p(np.exp(-np.abs(input)))
    losses[...] = (1 - target) * input + lw * sp


def bce_with_logits_backward(dinput, input, target, pos_weight, dloss):
    lw = 1 + (pos_weight[None, :] - 1) * target
    e = np.exp(-np.abs(input))
    sig_neg = np.where(input >= 0, e / (1 + e), 1 / (1 + e))  # sigmoid(-x)
    g = dloss.reshape(input.shape) if dloss.size > 1 else dloss  # flat (M*C,) or broadcast (1,)
    dinput[...] = g * ((1 - target) - lw * sig_neg)


def kl_div_forward(losses, input, target, log_target):
    if log_target:
        losses[...] = np.exp(target) * (target - input)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            xlogy = np.where(target == 0, 0, target * np.log(np.where(target == 0, 1, target)))
        losses[...] = xlogy - target * input


def kl_div_backward(dinput, target, dloss, log_target):
    dinput[...] = -(np.exp(target) if log_target else target) * dloss


def _log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return (z - m) - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def distillation_forward(losses, probs, soft_student, soft_teacher, student, teacher, labels, temperature, alpha):
    s = student.astype(np.float64)
    logp_s = _log_softmax(s)
    log_q = _log_softmax(s / temperature)
    log_p = _log_softmax(teacher.astype(np.float64) / temperature)
    p = np.exp(log_p)
    ce = -logp_s[np.arange(len(labels)), labels]
    kl = (p * (log_p - log_q)).sum(axis=1)
    losses[...] = (1 - alpha) * ce + alpha * temperature ** 2 * kl
    probs[...] = np.exp(logp_s)
    soft_student[...] = np.exp(log_q)
    soft_teacher[...] = p


def distillation_backward(dstudent, probs, soft_student, soft_teacher, labels, dloss, temperature, alpha):
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(labels)), labels] = 1
    dstudent[...] = dloss[:, None] * ((1 - alpha) * (probs - onehot)
                                      + alpha * temperature * (soft_student - soft_teacher))


def accuracy_count(out, logits, labels):
    """out[0] = #{i : argmax_k logits[i, k] == labels[i]} (np.argmax: the first maximum wins, NaN counts as the
    maximum); logits (N, K), labels int64 (N,), out int64 (1,)."""
    out[0] = np.count_nonzero(logits.argmax(axis=1) == labels) if logits.size else 0
