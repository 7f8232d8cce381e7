"""kernels.cuda.loss (simulator) == kernels.reference.loss: the fused softmax cross-entropy (extreme logits
included), weighted / label-smoothed / ignore_index cross-entropy, NLL, the elementwise losses with per-element
and broadcast upstream gradients (edge inputs: BCE at 0 and 1, KL with zero targets, L1 ties), BCE-with-logits
with pos_weight, distillation and accuracy_count (ties and NaN as np.argmax); float32 and float64, row widths
of every group size, batch 1."""

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cuda import loss as cuda_loss
from kernels.reference import loss as ref_loss

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}
ROWS = [(1, 1), (3, 5), (17, 13), (1, 300)]  # row groups of 1, 1, 16 (2 blocks), 256 (looping)
ROW_IDS = ["x".join(map(str, s)) for s in ROWS]
IGNORE = -100


def close(a, b, dtype):
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype])


def logits_case(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    n, k = shape
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    z[0, 0] = 1000.0  # the stable forms never overflow
    labels = rng.integers(0, k, n).astype(np.int64)
    return z, labels, rng.uniform(0.2, 2.0, k).astype(dtype), rng.standard_normal(n).astype(dtype)


def run_both(name, outputs, *inputs):
    """Call reference.<name>(*outputs, *inputs) on host arrays and cuda.<name> on device copies; returns both."""
    ref_out = [np.zeros_like(o) for o in outputs]
    getattr(ref_loss, name)(*ref_out, *inputs)
    dev_out = [empty_like(o) for o in outputs]
    getattr(cuda_loss, name)(*dev_out, *(dev(a) if isinstance(a, np.ndarray) else a for a in inputs))
    return [host(d) for d in dev_out], ref_out


def check(name, outputs, *inputs, dtype):
    got, expected = run_both(name, outputs, *inputs)
    for g, e in zip(got, expected):
        close(g, e, dtype)
    return expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROWS, ids=ROW_IDS)
def test_softmax_cross_entropy(shape, dtype):
    z, labels, _, _ = logits_case(shape, dtype)
    losses, probs = check("softmax_cross_entropy_forward", [np.zeros(shape[0], dtype), z], z, labels, dtype=dtype)
    assert np.isfinite(losses).all()
    check("softmax_cross_entropy_backward", [z], probs, labels, 1.0 / shape[0], dtype=dtype)


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROWS[1:], ids=ROW_IDS[1:])
def test_cross_entropy_weighted_smoothed_ignoring(shape, dtype, eps):
    z, labels, weight, dloss = logits_case(shape, dtype, seed=1)
    labels[-1] = IGNORE
    losses, probs = check("cross_entropy_forward", [np.zeros(shape[0], dtype), z], z, labels, weight, IGNORE, eps,
                          dtype=dtype)
    assert losses[-1] == 0
    check("cross_entropy_backward", [z], probs, labels, weight, dloss, IGNORE, eps, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll(dtype):
    z, labels, weight, dloss = logits_case((9, 4), dtype, seed=2)
    labels[3] = IGNORE
    check("nll_forward", [np.zeros(9, dtype)], z, labels, weight, IGNORE, dtype=dtype)
    check("nll_backward", [z], labels, weight, dloss, IGNORE, dtype=dtype)


def elementwise_case(name, n, dtype, seed=3):
    rng = np.random.default_rng(seed)
    if name == "bce":
        x = rng.uniform(0.01, 0.99, n)
        x[:4] = [0.0, 1.0, 0.5, 1e-30][:n]
        t = rng.uniform(0, 1, n)
    elif name == "kl_div":
        x = rng.standard_normal(n)
        t = rng.uniform(0, 1, n)
        t[:2] = [0.0, 1.0][:n]
    else:
        x, t = rng.standard_normal(n), rng.standard_normal(n)
        x[:1] = t[:1]  # l1: sign(0)
    return x.astype(dtype), t.astype(dtype)


@pytest.mark.parametrize("n, broadcast", [(1, True), (300, False)], ids=["1-dloss_1", "300-dloss_n"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["mse", "l1", "bce", "kl_div"])
def test_elementwise_losses(name, dtype, n, broadcast):
    x, t = elementwise_case(name, n, dtype)
    dloss = np.full(1, 0.7, dtype) if broadcast else np.random.default_rng(4).standard_normal(n).astype(dtype)
    flags = (True, False) if name == "kl_div" else (None,)
    for log_target in flags:
        extra = () if log_target is None else (log_target,)
        check(f"{name}_forward", [x], x, t, *extra, dtype=dtype)
        if name == "kl_div":
            check("kl_div_backward", [x], t, dloss, *extra, dtype=dtype)
        else:
            check(f"{name}_backward", [x], x, t, dloss, dtype=dtype)


@pytest.mark.parametrize("broadcast", [False, True], ids=["dloss_n", "dloss_1"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3)], ids=["1x1", "7x3"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits(dtype, shape, broadcast):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.reshape(-1)[0] = -1000.0
    t = rng.uniform(0, 1, shape).astype(dtype)
    pw = rng.uniform(0.5, 3.0, shape[1]).astype(dtype)
    size = 1 if broadcast else x.size
    dloss = rng.standard_normal(size).astype(dtype)
    check("bce_with_logits_forward", [x], x, t, pw, dtype=dtype)
    check("bce_with_logits_backward", [x], x, t, pw, dloss, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5), (17, 13)], ids=["3x5", "17x13"])
def test_distillation(shape, dtype):
    s, labels, _, dloss = logits_case(shape, dtype, seed=6)
    t = (np.random.default_rng(7).standard_normal(shape) * 2).astype(dtype)
    out = [np.zeros(shape[0], dtype), s, s, s]
    _, probs, q, p = check("distillation_forward", out, s, t, labels, 2.0, 0.3, dtype=dtype)
    check("distillation_backward", [s], probs, q, p, labels, dloss, 2.0, 0.3, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (40, 3), (20, 13)], ids=["1x1", "40x3", "20x13"])
def test_accuracy_count(shape, dtype):
    rng = np.random.default_rng(shape[0])
    logits = rng.integers(0, 3, shape).astype(dtype)  # many ties: the first maximum wins
    labels = rng.integers(0, shape[1], shape[0]).astype(np.int64)
    if shape[0] > 1:
        logits[0, -1], logits[1, :] = np.nan, np.nan  # NaN counts as the maximum, the first NaN wins
        labels[0], labels[1] = shape[1] - 1, 0
    expected = np.zeros(1, np.int64)
    ref_loss.accuracy_count(expected, logits, labels)
    out = dev(np.full(1, -7, np.int64))
    cuda_loss.accuracy_count(out, dev(logits), dev(labels))
    assert host(out)[0] == expected[0] == np.count_nonzero(logits.argmax(axis=1) == labels)


def test_host_arrays_are_rejected():
    z, labels, weight, dloss = logits_case((2, 3), np.float32)
    with pytest.raises(TypeError, match="'labels'"):
        cuda_loss.softmax_cross_entropy_forward(empty_like(dloss), empty_like(z), dev(z), labels)
    with pytest.raises(TypeError, match="'out'"):
        cuda_loss.accuracy_count(np.zeros(1, np.int64), dev(z), dev(labels))
