"""Losses on the GPU (formulas: kernels/reference/loss.py).

logits, probs, dlogits (N, K) float; labels int64 (N,) in [0, K) (or == ignore_index where accepted);
weight (K,); losses (N,). Elementwise losses take flat (n,) arrays (bce_with_logits: (M, C) with pos_weight
(C,)) and ``dloss`` of shape (n,) or (1,) (broadcast).

Row ops (the fused softmax cross-entropies, distillation, accuracy_count) give each row an aligned group
of g threads (kernels/cuda/activation.py ``row_group``: one thread per short row, up to a whole block for
long rows) with shared-memory max / sum reductions inside the group; every other op is one thread per
element. One launch per op (accuracy_count: a one-thread zeroing launch, then the count). Float scalars
are cast to the data's dtype on the host so float32 kernels do float32 math.
"""

import math

from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device
from kernels.cuda.activation import group_max, group_row, group_sum, row_blocks, row_group, row_max, row_sum_exp

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "cross_entropy_forward",
           "cross_entropy_backward", "nll_forward", "nll_backward", "mse_forward", "mse_backward", "l1_forward",
           "l1_backward", "bce_forward", "bce_backward", "bce_with_logits_forward", "bce_with_logits_backward",
           "kl_div_forward", "kl_div_backward", "distillation_forward", "distillation_backward",
           "accuracy_count"]


# --------------------------------------------------------------------------- device helpers
@cuda.jit(device=True)
def _softmax_row(probs, logits, buf, row, lane, kk, g):
    """probs[row] = exp(z - m) / s for the group's row; returns (m, s): the row max and sum exp(z - m)."""
    m = row_max(buf, logits, row, lane, kk, g)
    s = row_sum_exp(buf, logits, row, lane, kk, g, m)
    for j in range(lane, kk, g):
        probs[row, j] = math.exp(logits[row, j] - m) / s
    return m, s


@cuda.jit(device=True)
def _log(v, inf, nan):
    """log v with log 0 = -inf and log of a negative = NaN, never evaluating log outside its domain (inf, nan:
    those constants in v's dtype)."""
    if v > 0:
        return math.log(v)
    return -inf if v == 0 else nan


@cuda.jit(device=True)
def _log1m(v, inf, nan):
    """log(1 - v), likewise total: -inf at v = 1, NaN above."""
    if v < 1:
        return math.log1p(-v)
    return -inf if v == 1 else nan


@cuda.jit(device=True)
def _g(dloss, i):
    """The upstream gradient of element i: dloss (n,) or a broadcast (1,)."""
    return dloss[0] if dloss.size == 1 else dloss[i]


# --------------------------------------------------------------------------- fused softmax cross-entropy
@cuda.jit
def _sce_forward_kernel(losses, probs, logits, labels, g):
    """probs = softmax(z) row-wise, losses_i = (m_i - z_i,y_i) + log sum_k exp(z_ik - m_i), m_i = max_k z_ik;
    logits, probs (N, K), labels (N,), losses (N,); g threads per row."""
    buf = cuda.shared.array(THREADS, logits.dtype)
    n, k = logits.shape
    row, lane = group_row(g)
    kk = k if row < n else 0
    m, s = _softmax_row(probs, logits, buf, row, lane, kk, g)
    if lane == 0 and row < n:
        losses[row] = (m - logits[row, labels[row]]) + math.log(s)


@cuda.jit
def _sce_backward_kernel(dlogits, probs, labels, scale):
    """dlogits_ik = scale (probs_ik - [k == y_i]); dlogits, probs (N, K), labels (N,); one thread per entry."""
    i = cuda.grid(1)
    if i < probs.size:
        k = probs.shape[1]
        r = i // k
        j = i - r * k
        p = probs[r, j]
        dlogits[r, j] = scale * (p - probs.dtype.type(1) if j == labels[r] else p)


@cuda.jit
def _ce_forward_kernel(losses, probs, logits, labels, weight, ignore_index, hard_scale, eps_k, smoothing, g):
    """probs = softmax(z); losses_i = (1 - eps) w_y nlogp_iy + eps/K sum_k w_k nlogp_ik with
    nlogp_ik = log s_i - (z_ik - m_i) (hard_scale = 1 - eps, eps_k = eps/K), 0 where y_i == ignore_index;
    logits, probs (N, K), labels (N,), weight (K,), losses (N,); g threads per row."""
    buf = cuda.shared.array(THREADS, logits.dtype)
    n, k = logits.shape
    row, lane = group_row(g)
    kk = k if row < n else 0
    m, s = _softmax_row(probs, logits, buf, row, lane, kk, g)
    ls = math.log(s) if kk else s
    smooth = logits.dtype.type(0)
    if smoothing:  # the same for the whole block
        for j in range(lane, kk, g):
            smooth += weight[j] * (ls - (logits[row, j] - m))
        smooth = group_sum(buf, smooth, g)
    if lane == 0 and row < n:
        y = labels[row]
        if y == ignore_index:
            losses[row] = 0
        else:
            losses[row] = hard_scale * weight[y] * (ls - (logits[row, y] - m)) + eps_k * smooth


@cuda.jit
def _ce_backward_kernel(dlogits, probs, labels, weight, dloss, ignore_index, hard_scale, eps_k, smoothing, g):
    """dz_ik = dloss_i (c_i probs_ik - t_ik), t_ik = (1 - eps) w_y [k == y_i] + eps/K w_k,
    c_i = (1 - eps) w_y + eps/K sum_k w_k (the weight sum reduced per row group); 0 where y_i == ignore_index.
    dlogits, probs (N, K), labels, dloss (N,), weight (K,); g threads per row."""
    buf = cuda.shared.array(THREADS, probs.dtype)
    n, k = probs.shape
    row, lane = group_row(g)
    kk = k if row < n else 0
    wsum = probs.dtype.type(0)
    if smoothing:
        for j in range(lane, kk, g):
            wsum += weight[j]
        wsum = group_sum(buf, wsum, g)
    if row < n:
        y = labels[row]
        if y == ignore_index:
            for j in range(lane, kk, g):
                dlogits[row, j] = 0
        else:
            gi = dloss[row]
            hard = hard_scale * weight[y]
            c = hard + eps_k * wsum
            for j in range(lane, kk, g):
                t = eps_k * weight[j]
                if j == y:
                    t += hard
                dlogits[row, j] = gi * (c * probs[row, j] - t)


# --------------------------------------------------------------------------- NLL
@cuda.jit
def _nll_forward_kernel(losses, input, labels, weight, ignore_index):
    """losses_i = -w[y_i] input[i, y_i], 0 where y_i == ignore_index; input (N, K), labels, losses (N,)."""
    i = cuda.grid(1)
    if i < labels.size:
        y = labels[i]
        losses[i] = losses.dtype.type(0) if y == ignore_index else -weight[y] * input[i, y]


@cuda.jit
def _nll_backward_kernel(dinput, labels, weight, dloss, ignore_index):
    """dinput[i, y_i] = -w[y_i] dloss_i (0 if ignored), 0 elsewhere; dinput (N, K), labels, dloss (N,)."""
    i = cuda.grid(1)
    if i < dinput.size:
        k = dinput.shape[1]
        r = i // k
        j = i - r * k
        y = labels[r]
        dinput[r, j] = -weight[y] * dloss[r] if j == y and y != ignore_index else dinput.dtype.type(0)


# --------------------------------------------------------------------------- elementwise losses
@cuda.jit
def _mse_forward_kernel(losses, input, target):
    """losses = (x - t)^2; all (n,)."""
    i = cuda.grid(1)
    if i < input.size:
        d = input[i] - target[i]
        losses[i] = d * d


@cuda.jit
def _mse_backward_kernel(dinput, input, target, dloss):
    """dinput = 2 (x - t) dloss; (n,), dloss (n,) or (1,)."""
    i = cuda.grid(1)
    if i < input.size:
        dinput[i] = input.dtype.type(2) * (input[i] - target[i]) * _g(dloss, i)


@cuda.jit
def _l1_forward_kernel(losses, input, target):
    """losses = |x - t|; all (n,)."""
    i = cuda.grid(1)
    if i < input.size:
        losses[i] = abs(input[i] - target[i])


@cuda.jit
def _l1_backward_kernel(dinput, input, target, dloss):
    """dinput = sign(x - t) dloss (sign(NaN) = NaN); (n,), dloss (n,) or (1,)."""
    i = cuda.grid(1)
    if i < input.size:
        one, zero = input.dtype.type(1), input.dtype.type(0)
        d = input[i] - target[i]
        sign = one if d > 0 else (-one if d < 0 else (zero if d == 0 else d))
        dinput[i] = sign * _g(dloss, i)


@cuda.jit
def _bce_forward_kernel(losses, input, target):
    """losses = -(t max(log x, -100) + (1 - t) max(log(1 - x), -100)) (NaN outside [0, 1]); all (n,)."""
    i = cuda.grid(1)
    if i < input.size:
        dt = input.dtype.type
        lo, one, inf, nan = dt(-100), dt(1), dt(math.inf), dt(math.nan)
        x, t = input[i], target[i]
        lx, l1x = _log(x, inf, nan), _log1m(x, inf, nan)
        lx = lo if lx < lo else lx
        l1x = lo if l1x < lo else l1x
        losses[i] = -(t * lx + (one - t) * l1x)


@cuda.jit
def _bce_backward_kernel(dinput, input, target, dloss):
    """dinput = dloss (x - t) / max(x (1 - x), 1e-12); (n,), dloss (n,) or (1,)."""
    i = cuda.grid(1)
    if i < input.size:
        dt = input.dtype.type
        x = input[i]
        v = x * (dt(1) - x)
        floor = dt(1e-12)
        dinput[i] = _g(dloss, i) * (x - target[i]) / (v if v > floor or v != v else floor)


@cuda.jit
def _bce_with_logits_forward_kernel(losses, input, target, pos_weight):
    """losses = (1 - t) x + lw softplus(-x), lw = 1 + (pw_c - 1) t, softplus(-x) = max(-x, 0) + log1p(e^-|x|);
    losses, input, target (M, C), pos_weight (C,)."""
    i = cuda.grid(1)
    if i < input.size:
        c = input.shape[1]
        r = i // c
        j = i - r * c
        one, zero = input.dtype.type(1), input.dtype.type(0)
        x, t = input[r, j], target[r, j]
        lw = one + (pos_weight[j] - one) * t
        losses[r, j] = (one - t) * x + lw * ((-x if -x > zero else zero) + math.log1p(math.exp(-abs(x))))


@cuda.jit
def _bce_with_logits_backward_kernel(dinput, input, target, pos_weight, dloss):
    """dinput = dloss ((1 - t) - lw sigmoid(-x)); dinput, input, target (M, C), pos_weight (C,),
    dloss (M * C,) or (1,)."""
    i = cuda.grid(1)
    if i < input.size:
        c = input.shape[1]
        r = i // c
        j = i - r * c
        one = input.dtype.type(1)
        x, t = input[r, j], target[r, j]
        lw = one + (pos_weight[j] - one) * t
        e = math.exp(-abs(x))
        sig_neg = e / (one + e) if x >= 0 else one / (one + e)
        dinput[r, j] = _g(dloss, i) * ((one - t) - lw * sig_neg)


@cuda.jit
def _kl_div_forward_kernel(losses, input, target, log_target):
    """losses = t log t - t x (0 log 0 = 0), or e^t (t - x) if log_target; all (n,)."""
    i = cuda.grid(1)
    if i < input.size:
        t = target[i]
        if log_target:
            losses[i] = math.exp(t) * (t - input[i])
        else:
            dt = input.dtype.type
            xlogy = t * _log(t, dt(math.inf), dt(math.nan)) if t != 0 else dt(0)
            losses[i] = xlogy - t * input[i]


@cuda.jit
def _kl_div_backward_kernel(dinput, target, dloss, log_target):
    """dinput = -t dloss, or -e^t dloss if log_target; (n,), dloss (n,) or (1,)."""
    i = cuda.grid(1)
    if i < target.size:
        t = math.exp(target[i]) if log_target else target[i]
        dinput[i] = -t * _g(dloss, i)


# --------------------------------------------------------------------------- distillation
@cuda.jit
def _distillation_forward_kernel(losses, probs, soft_student, soft_teacher, student, teacher, labels,
                                 temperature, ce_scale, kl_scale, g):
    """Per row: probs = softmax(s), soft_student q = softmax(s/T), soft_teacher p = softmax(t/T),
    losses_i = (1 - alpha) (lse(s_i) - s_iy) + alpha T^2 sum_k p_ik (log p_ik - log q_ik)
    (ce_scale = 1 - alpha, kl_scale = alpha T^2); all (N, K) but labels, losses (N,); g threads per row."""
    buf = cuda.shared.array(THREADS, student.dtype)
    n, k = student.shape
    row, lane = group_row(g)
    kk = k if row < n else 0
    ms = student.dtype.type(-math.inf)
    mq, mp = ms, ms
    for j in range(lane, kk, g):
        s, q, p = student[row, j], student[row, j] / temperature, teacher[row, j] / temperature
        ms = s if s > ms else ms
        mq = q if q > mq else mq
        mp = p if p > mp else mp
    ms, mq, mp = group_max(buf, ms, g), group_max(buf, mq, g), group_max(buf, mp, g)
    ss = student.dtype.type(0)
    sq, sp = ss, ss
    for j in range(lane, kk, g):
        ss += math.exp(student[row, j] - ms)
        sq += math.exp(student[row, j] / temperature - mq)
        sp += math.exp(teacher[row, j] / temperature - mp)
    ss, sq, sp = group_sum(buf, ss, g), group_sum(buf, sq, g), group_sum(buf, sp, g)
    if kk:
        ss, sq, sp = math.log(ss), math.log(sq), math.log(sp)  # the three log-sums
    kl = student.dtype.type(0)
    for j in range(lane, kk, g):
        log_q = (student[row, j] / temperature - mq) - sq
        log_p = (teacher[row, j] / temperature - mp) - sp
        p = math.exp(log_p)
        kl += p * (log_p - log_q)
        probs[row, j] = math.exp((student[row, j] - ms) - ss)
        soft_student[row, j] = math.exp(log_q)
        soft_teacher[row, j] = p
    kl = group_sum(buf, kl, g)
    if lane == 0 and row < n:
        ce = ss - (student[row, labels[row]] - ms)
        losses[row] = ce_scale * ce + kl_scale * kl


@cuda.jit
def _distillation_backward_kernel(dstudent, probs, soft_student, soft_teacher, labels, dloss, ce_scale, kl_scale):
    """ds_ik = dloss_i ((1 - alpha)(probs_ik - [k == y_i]) + alpha T (q_ik - p_ik)) (ce_scale = 1 - alpha,
    kl_scale = alpha T); dstudent, probs, soft_student, soft_teacher (N, K), labels, dloss (N,)."""
    i = cuda.grid(1)
    if i < probs.size:
        k = probs.shape[1]
        r = i // k
        j = i - r * k
        p = probs[r, j]
        if j == labels[r]:
            p -= probs.dtype.type(1)
        dstudent[r, j] = dloss[r] * (ce_scale * p + kl_scale * (soft_student[r, j] - soft_teacher[r, j]))


# --------------------------------------------------------------------------- accuracy
@cuda.jit(device=True)
def _better(v, j, w, i):
    """True when entry (v, j) wins over (w, i) in np.argmax's order: NaN above everything, then the larger
    value, then the smaller index."""
    if v != v:
        return w == w or j < i
    if w != w:
        return False
    return v > w or (v == w and j < i)


@cuda.jit
def _zero_count_kernel(out):
    """out[0] = 0 before the counting launch adds to it; out (1,) int64."""
    out[0] = 0


@cuda.jit
def _accuracy_count_kernel(out, logits, labels, g):
    """out[0] += #{i : argmax_k logits[i, k] == labels[i]} (first maximum wins, NaN counts as the maximum,
    as np.argmax); logits (N, K), labels (N,), out (1,) int64. A group's argmax is a shared-memory
    (value, index) reduction; the block sums its hits in shared memory and adds them with one atomic."""
    vbuf = cuda.shared.array(THREADS, logits.dtype)
    ibuf = cuda.shared.array(THREADS, labels.dtype)
    n, k = logits.shape
    t = cuda.threadIdx.x
    row, lane = group_row(g)
    kk = k if row < n else 0
    best, arg = logits.dtype.type(-math.inf), k
    for j in range(lane, kk, g):
        v = logits[row, j]
        if _better(v, j, best, arg):
            best, arg = v, j
    vbuf[t], ibuf[t] = best, arg
    cuda.syncthreads()
    s = g // 2
    while s > 0:
        if t & (g - 1) < s and _better(vbuf[t + s], ibuf[t + s], vbuf[t], ibuf[t]):
            vbuf[t], ibuf[t] = vbuf[t + s], ibuf[t + s]
        cuda.syncthreads()
        s //= 2
    hit = 1 if lane == 0 and row < n and k > 0 and ibuf[t] == labels[row] else 0
    cuda.syncthreads()
    ibuf[t] = hit
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            ibuf[t] += ibuf[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0 and ibuf[0]:
        cuda.atomic.add(out, 0, ibuf[0])


# --------------------------------------------------------------------------- launchers
def _row_grid(a):
    n, k = a.shape
    g = row_group(k)
    return (row_blocks(n, g), THREADS), g


def softmax_cross_entropy_forward(losses, probs, logits, labels):
    require_device("softmax_cross_entropy_forward", losses=losses, probs=probs, logits=logits, labels=labels)
    grid, g = _row_grid(logits)
    _sce_forward_kernel[grid](losses, probs, logits, labels, g)


def softmax_cross_entropy_backward(dlogits, probs, labels, scale):
    require_device("softmax_cross_entropy_backward", dlogits=dlogits, probs=probs, labels=labels)
    _sce_backward_kernel[blocks(probs.size), THREADS](dlogits, probs, labels, probs.dtype.type(scale))


def _ce_scalars(dt, k, label_smoothing):
    """(1 - eps, eps / K, eps != 0) in the data's dtype."""
    eps = float(label_smoothing)
    return dt.type(1 - eps), dt.type(eps / k if k else 0.0), eps != 0


def cross_entropy_forward(losses, probs, logits, labels, weight, ignore_index, label_smoothing):
    require_device("cross_entropy_forward", losses=losses, probs=probs, logits=logits, labels=labels,
                   weight=weight)
    grid, g = _row_grid(logits)
    _ce_forward_kernel[grid](losses, probs, logits, labels, weight, int(ignore_index),
                             *_ce_scalars(logits.dtype, logits.shape[1], label_smoothing), g)


def cross_entropy_backward(dlogits, probs, labels, weight, dloss, ignore_index, label_smoothing):
    require_device("cross_entropy_backward", dlogits=dlogits, probs=probs, labels=labels, weight=weight,
                   dloss=dloss)
    grid, g = _row_grid(probs)
    _ce_backward_kernel[grid](dlogits, probs, labels, weight, dloss, int(ignore_index),
                              *_ce_scalars(probs.dtype, probs.shape[1], label_smoothing), g)


def nll_forward(losses, input, labels, weight, ignore_index):
    require_device("nll_forward", losses=losses, input=input, labels=labels, weight=weight)
    _nll_forward_kernel[blocks(labels.size), THREADS](losses, input, labels, weight, int(ignore_index))


def nll_backward(dinput, labels, weight, dloss, ignore_index):
    require_device("nll_backward", dinput=dinput, labels=labels, weight=weight, dloss=dloss)
    _nll_backward_kernel[blocks(dinput.size), THREADS](dinput, labels, weight, dloss, int(ignore_index))


def mse_forward(losses, input, target):
    require_device("mse_forward", losses=losses, input=input, target=target)
    _mse_forward_kernel[blocks(input.size), THREADS](losses, input, target)


def mse_backward(dinput, input, target, dloss):
    require_device("mse_backward", dinput=dinput, input=input, target=target, dloss=dloss)
    _mse_backward_kernel[blocks(input.size), THREADS](dinput, input, target, dloss)


def l1_forward(losses, input, target):
    require_device("l1_forward", losses=losses, input=input, target=target)
    _l1_forward_kernel[blocks(input.size), THREADS](losses, input, target)


def l1_backward(dinput, input, target, dloss):
    require_device("l1_backward", dinput=dinput, input=input, target=target, dloss=dloss)
    _l1_backward_kernel[blocks(input.size), THREADS](dinput, input, target, dloss)


def bce_forward(losses, input, target):
    require_device("bce_forward", losses=losses, input=input, target=target)
    _bce_forward_kernel[blocks(input.size), THREADS](losses, input, target)


def bce_backward(dinput, input, target, dloss):
    require_device("bce_backward", dinput=dinput, input=input, target=target, dloss=dloss)
    _bce_backward_kernel[blocks(input.size), THREADS](dinput, input, target, dloss)


def bce_with_logits_forward(losses, input, target, pos_weight):
    require_device("bce_with_logits_forward", losses=losses, input=input, target=target, pos_weight=pos_weight)
    _bce_with_logits_forward_kernel[blocks(input.size), THREADS](losses, input, target, pos_weight)


def bce_with_logits_backward(dinput, input, target, pos_weight, dloss):
    require_device("bce_with_logits_backward", dinput=dinput, input=input, target=target, pos_weight=pos_weight,
                   dloss=dloss)
    _bce_with_logits_backward_kernel[blocks(input.size), THREADS](dinput, input, target, pos_weight, dloss)


def kl_div_forward(losses, input, target, log_target):
    require_device("kl_div_forward", losses=losses, input=input, target=target)
    _kl_div_forward_kernel[blocks(input.size), THREADS](losses, input, target, bool(log_target))


def kl_div_backward(dinput, target, dloss, log_target):
    require_device("kl_div_backward", dinput=dinput, target=target, dloss=dloss)
    _kl_div_backward_kernel[blocks(target.size), THREADS](dinput, target, dloss, bool(log_target))


def distillation_forward(losses, probs, soft_student, soft_teacher, student, teacher, labels, temperature, alpha):
    require_device("distillation_forward", losses=losses, probs=probs, soft_student=soft_student,
                   soft_teacher=soft_teacher, student=student, teacher=teacher, labels=labels)
    dt = student.dtype.type
    grid, g = _row_grid(student)
    _distillation_forward_kernel[grid](losses, probs, soft_student, soft_teacher, student, teacher, labels,
                                       dt(temperature), dt(1 - alpha), dt(alpha * temperature * temperature), g)


def distillation_backward(dstudent, probs, soft_student, soft_teacher, labels, dloss, temperature, alpha):
    require_device("distillation_backward", dstudent=dstudent, probs=probs, soft_student=soft_student,
                   soft_teacher=soft_teacher, labels=labels, dloss=dloss)
    dt = probs.dtype.type
    _distillation_backward_kernel[blocks(probs.size), THREADS](dstudent, probs, soft_student, soft_teacher, labels,
                                                               dloss, dt(1 - alpha), dt(alpha * temperature))


def accuracy_count(out, logits, labels):
    require_device("accuracy_count", out=out, logits=logits, labels=labels)
    grid, g = _row_grid(logits)
    _zero_count_kernel[1, 1](out)
    _accuracy_count_kernel[grid](out, logits, labels, g)
