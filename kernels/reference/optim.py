"""Optimizer update rules over a flat parameter buffer with a segment table (the executable spec).

Shapes: ``params``, ``grads`` and every state buffer are 1-D arrays of one float dtype and equal
length N (the model's flat buffer). A state buffer a rule does not use in the chosen mode (e.g.
``max_exp_avg_sq`` without amsgrad) may be an empty array and is never touched.
Segment table, S segments: ``seg_start``, ``seg_end`` int64 (S,) cover ``params[seg_start[s]:
seg_end[s]]`` with learning rate ``seg_lr[s]``, L2 weight decay ``seg_wd[s]`` and L1 penalty
``seg_l1[s]`` (float64 (S,)). Elements outside every segment (frozen groups) are never read or written.
Scalars are Python/float64 numbers computed by the host (bias corrections etc.).

Every rule starts from the effective gradient (PyTorch's order: maximize, then decay)

    g = sgn * grad + wd * p + l1 * sign(p),      sgn = -1 if maximize else 1

(for the decoupled variants, AdamW and NAdam(decoupled_weight_decay=True), the ``wd * p`` term is
replaced by ``p <- p * (1 - lr * wd)`` applied before the update).

sgd_update (PyTorch):       b <- g (first step) else mu b + (1 - dampening) g
                            d <- g + mu b (nesterov) else b (mu > 0) else g;      p <- p - lr d
momentum_update (textbook, Goodfellow et al. Alg. 8.2 / 8.3):
                            v <- a v - lr g;   p <- p + v                          (plain)
                            v <- a v - lr g;   p <- p + a v - lr g                 (nesterov)
    The nesterov form is Alg. 8.3 reparametrized: the buffer holds the interim point
    phi = theta + a v, so the gradient the caller computes at the current params is exactly the
    textbook gradient at the interim point; phi' = theta' + a v' = phi + a v' - lr g.
adagrad_update:             s <- s + g^2;      p <- p - lr g / (sqrt(s) + eps)     (lr: the decayed clr)
rmsprop_update (PyTorch):   r <- alpha r + (1 - alpha) g^2;  centered: ga <- ga + (1 - alpha)(g - ga), r~ = r - ga^2
                            den = sqrt(r~) + eps   or, eps_inside (textbook Alg. 8.5), sqrt(r~ + eps)
                            mu > 0: b <- mu b + g / den;  p <- p - lr b      else p <- p - lr g / den
rmsprop_nesterov_update (Goodfellow et al. Alg. 8.6, params hold the interim point as above):
                            r, den as rmsprop;  v <- a v - lr g / den;  p <- p + a v - lr g / den
adam_update:                m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  amsgrad: vmax <- max(vmax, v)
                            p <- p - (lr / bc1) m / (sqrt(v or vmax) / sqrt(bc2) + eps),   bc_i = 1 - b_i^t
adamax_update:              m <- b1 m + (1 - b1) g;  u <- max(b2 u, |g| + eps);  p <- p - (lr / bc1) m / u
nadam_update (PyTorch's momentum_decay schedule; host passes c_grad = (1 - mu_t) / (1 - prod_{i<=t} mu_i),
              c_avg = mu_{t+1} / (1 - prod_{i<=t+1} mu_i)):
                            m, v as adam;  den = sqrt(v / bc2) + eps;  p <- p - lr (c_grad g + c_avg m) / den
"""

import numpy as np

__all__ = ["sgd_update", "momentum_update", "adagrad_update", "rmsprop_update", "rmsprop_nesterov_update",
           "adam_update", "adamax_update", "nadam_update"]


def _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
    for s in range(len(seg_start)):
        yield slice(int(seg_start[s]), int(seg_end[s])), float(seg_lr[s]), float(seg_wd[s]), float(seg_l1[s])


def _grad(params, grads, sl, wd, l1, maximize):
    """The effective gradient of one segment (a new array; the caller's grads stay untouched)."""
    p = params[sl]
    g = -grads[sl] if maximize else grads[sl].copy()
    return g + wd * p + l1 * np.sign(p)


def sgd_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum, dampening,
               nesterov, maximize, first_step):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, wd, l1, maximize)
        if momentum != 0:
            b = velocity[sl]
            b[...] = g if first_step else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b.copy()
        params[sl] -= lr * g


def momentum_update(params, velocity, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, momentum, nesterov,
                    maximize):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, wd, l1, maximize)
        v = velocity[sl]
        v[...] = momentum * v - lr * g
        params[sl] += momentum * v - lr * g if nesterov else v


def adagrad_update(params, state_sum, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, eps, maximize):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, wd, l1, maximize)
        state_sum[sl] += g * g
        params[sl] -= lr * g / (np.sqrt(state_sum[sl]) + eps)


def _rms_denominator(square_avg, grad_avg, g, sl, alpha, eps, centered, eps_inside):
    square_avg[sl] = alpha * square_avg[sl] + (1 - alpha) * g * g
    r = square_avg[sl]
    if centered:
        grad_avg[sl] = alpha * grad_avg[sl] + (1 - alpha) * g
        r = r - grad_avg[sl] ** 2
    return np.sqrt(r + eps) if eps_inside else np.sqrt(r) + eps


def rmsprop_update(params, square_avg, grad_avg, momentum_buffer, grads, seg_start, seg_end, seg_lr, seg_wd,
                   seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, wd, l1, maximize)
        den = _rms_denominator(square_avg, grad_avg, g, sl, alpha, eps, centered, eps_inside)
        if momentum > 0:
            momentum_buffer[sl] = momentum * momentum_buffer[sl] + g / den
            params[sl] -= lr * momentum_buffer[sl]
        else:
            params[sl] -= lr * g / den


def rmsprop_nesterov_update(params, square_avg, grad_avg, velocity, grads, seg_start, seg_end, seg_lr, seg_wd,
                            seg_l1, alpha, eps, momentum, centered, eps_inside, maximize):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, wd, l1, maximize)
        den = _rms_denominator(square_avg, grad_avg, g, sl, alpha, eps, centered, eps_inside)
        step = lr * g / den
        velocity[sl] = momentum * velocity[sl] - step
        params[sl] += momentum * velocity[sl] - step


def adam_update(params, exp_avg, exp_avg_sq, max_exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1,
                beta1, beta2, eps, bc1, bc2, amsgrad, decoupled, maximize):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, 0.0 if decoupled else wd, l1, maximize)
        if decoupled:
            params[sl] *= 1 - lr * wd
        exp_avg[sl] = beta1 * exp_avg[sl] + (1 - beta1) * g
        exp_avg_sq[sl] = beta2 * exp_avg_sq[sl] + (1 - beta2) * g * g
        v = exp_avg_sq[sl]
        if amsgrad:
            max_exp_avg_sq[sl] = np.maximum(max_exp_avg_sq[sl], v)
            v = max_exp_avg_sq[sl]
        params[sl] -= (lr / bc1) * exp_avg[sl] / (np.sqrt(v) / np.sqrt(bc2) + eps)


def adamax_update(params, exp_avg, exp_inf, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1, beta2, eps,
                  bc1, maximize):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, wd, l1, maximize)
        exp_avg[sl] = beta1 * exp_avg[sl] + (1 - beta1) * g
        exp_inf[sl] = np.maximum(beta2 * exp_inf[sl], np.abs(g) + eps)
        params[sl] -= (lr / bc1) * exp_avg[sl] / exp_inf[sl]


def nadam_update(params, exp_avg, exp_avg_sq, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1, beta1, beta2, eps,
                 bc2, c_grad, c_avg, decoupled, maximize):
    for sl, lr, wd, l1 in _segments(seg_start, seg_end, seg_lr, seg_wd, seg_l1):
        g = _grad(params, grads, sl, 0.0 if decoupled else wd, l1, maximize)
        if decoupled:
            params[sl] *= 1 - lr * wd
        exp_avg[sl] = beta1 * exp_avg[sl] + (1 - beta1) * g
        exp_avg_sq[sl] = beta2 * exp_avg_sq[sl] + (1 - beta2) * g * g
        den = np.sqrt(exp_avg_sq[sl] / bc2) + eps
        params[sl] -= lr * (c_grad * g + c_avg * exp_avg[sl]) / den
