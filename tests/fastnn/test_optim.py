"""Optimizers vs torch.optim over several steps (same init weights, same batches): SGD variants, Adam,
param groups, lr changes, subsets, state_dict round trips and argument validation."""

from __future__ import annotations

# fastnn first: its kernels package sets OMP_WAIT_POLICY / the thread budget before any OpenMP runtime
# (torch's included) starts.
import fastnn  # noqa: F401  isort: skip

import numpy as np
import pytest
import torch
from twins import batches, fastnn_step, make_pair

from fastnn import nn, optim

torch.set_num_threads(1)


def torch_step(model, opt, x, y) -> float:
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    opt.step()
    return loss.item()


def assert_params_close(fm, tm, atol: float = 1e-5, rtol: float = 1e-5, what: str = "",
                        outliers: tuple[int, float] | None = None) -> None:
    """All parameters within atol/rtol of torch's. ``outliers=(count, loose_atol)`` lets up to ``count``
    elements in the whole model differ by up to ``loose_atol`` instead: Adam's update m/(sqrt(v)+eps) turns
    a ~1e-9 float32 difference in a gradient that is itself ~eps (e.g. grad + wd*p cancelling) into a
    change of a few percent of lr. Both sides are equally far from a float64 oracle there."""
    tparams = dict(tm.named_parameters())
    bad = 0
    for name, p in fm.named_parameters():
        expected = tparams[name].detach().numpy()
        if outliers is None:
            np.testing.assert_allclose(p.data, expected, rtol=rtol, atol=atol, err_msg=f"{what} {name}")
            continue
        np.testing.assert_allclose(p.data, expected, rtol=0, atol=outliers[1], err_msg=f"{what} {name}")
        bad += int((np.abs(p.data - expected) > atol + rtol * np.abs(expected)).sum())
    if outliers is not None:
        assert bad <= outliers[0], f"{what} {bad} elements differ by more than {atol} (allowed {outliers[0]})"


ADAM_OUTLIERS = (3, 5e-5)  # of ~50k-60k parameters, lr 1e-3


def run_trajectory(arch, make_fopt, make_topt, n_steps, atol=1e-5, seed=0, between=None, outliers=None):
    fm, tm = make_pair(arch, seed)
    fopt, topt = make_fopt(fm), make_topt(tm)
    loss_fn = nn.CrossEntropyLoss()
    for i, (x, y) in enumerate(batches(n_steps, seed=seed)):
        if between is not None:
            between(i, fopt, topt)
        fl = fastnn_step(fm, fopt, loss_fn, x, y)
        tl = torch_step(tm, topt, x, y)
        assert abs(fl - tl) < 1e-4 * max(1.0, abs(tl)), f"step {i}: loss {fl} vs {tl}"
        assert_params_close(fm, tm, atol=atol, what=f"after step {i + 1}:", outliers=outliers)
    return fm, tm, fopt, topt


def groups_of(model, lrs=(0.1, 0.02), wds=(1e-2, 0.0)):
    """Two groups that interleave in the flat buffer: all weights / all biases."""
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    return [{"params": weights, "lr": lrs[0], "weight_decay": wds[0]},
            {"params": biases, "lr": lrs[1], "weight_decay": wds[1]}]


# --------------------------------------------------------------------------- Adam


def test_adam_three_steps_lenet5_match_torch():
    run_trajectory("lenet5", lambda m: optim.Adam(m.parameters(), lr=1e-3),
                   lambda m: torch.optim.Adam(m.parameters(), lr=1e-3), n_steps=3)


@pytest.mark.parametrize("kwargs", [
    {"lr": 1e-3, "weight_decay": 1e-2},
    {"lr": 3e-3, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 1e-3, "betas": (0.0, 0.9)},
])
def test_adam_variants_mlp_match_torch(kwargs):
    run_trajectory("mlp", lambda m: optim.Adam(m.parameters(), **kwargs),
                   lambda m: torch.optim.Adam(m.parameters(), **kwargs), n_steps=6, outliers=ADAM_OUTLIERS)


# --------------------------------------------------------------------------- SGD

SGD_CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
    {"lr": 0.05, "weight_decay": 1e-2},
    {"lr": 0.05, "momentum": 0.8, "weight_decay": 5e-3, "nesterov": True},
    {"lr": 0.05, "momentum": 0.7, "dampening": 0.3, "weight_decay": 1e-2},
]


@pytest.mark.parametrize("kwargs", SGD_CONFIGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_ten_steps_mlp_match_torch(kwargs):
    run_trajectory("mlp", lambda m: optim.SGD(m.parameters(), **kwargs),
                   lambda m: torch.optim.SGD(m.parameters(), **kwargs), n_steps=10)


def test_sgd_momentum_lenet5_match_torch():
    run_trajectory("lenet5", lambda m: optim.SGD(m.parameters(), lr=0.05, momentum=0.9),
                   lambda m: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9), n_steps=4)


# --------------------------------------------------------------------------- param groups and lr changes


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_param_groups_match_torch(kind):
    if kind == "sgd":
        fo = lambda m: optim.SGD(groups_of(m), lr=1.0, momentum=0.9)  # noqa: E731
        to = lambda m: torch.optim.SGD(groups_of(m), lr=1.0, momentum=0.9)  # noqa: E731
    else:
        fo = lambda m: optim.Adam(groups_of(m, lrs=(1e-3, 5e-3)), lr=1.0)  # noqa: E731
        to = lambda m: torch.optim.Adam(groups_of(m, lrs=(1e-3, 5e-3)), lr=1.0)  # noqa: E731
    _, _, fopt, _ = run_trajectory("mlp", fo, to, n_steps=5, outliers=ADAM_OUTLIERS if kind == "adam" else None)
    assert [g["lr"] for g in fopt.param_groups] == ([0.1, 0.02] if kind == "sgd" else [1e-3, 5e-3])


def test_param_group_default_lr_is_filled_in():
    fm, _ = make_pair("mlp")
    groups = groups_of(fm)
    del groups[1]["lr"]
    opt = optim.SGD(groups, lr=0.3)
    assert opt.param_groups[1]["lr"] == 0.3 and opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_changing_group_lr_between_steps_is_honored(kind):
    schedule = [0.05, 0.05, 0.01, 0.2, 0.0, 0.02]
    if kind == "adam":
        schedule = [lr / 20 for lr in schedule]

    def between(i, fopt, topt):
        for g in (*fopt.param_groups, *topt.param_groups):
            g["lr"] = schedule[i]

    if kind == "sgd":
        fo = lambda m: optim.SGD(m.parameters(), lr=1.0, momentum=0.9)  # noqa: E731
        to = lambda m: torch.optim.SGD(m.parameters(), lr=1.0, momentum=0.9)  # noqa: E731
    else:
        fo = lambda m: optim.Adam(m.parameters(), lr=1.0)  # noqa: E731
        to = lambda m: torch.optim.Adam(m.parameters(), lr=1.0)  # noqa: E731
    run_trajectory("mlp", fo, to, n_steps=len(schedule), between=between,
                   outliers=ADAM_OUTLIERS if kind == "adam" else None)


def test_lr_zero_step_changes_nothing():
    fm, _ = make_pair("mlp")
    opt = optim.SGD(fm.parameters(), lr=0.0, momentum=0.9, weight_decay=0.1)
    before = fm.flat.data.copy()
    x, y = batches(1)[0]
    fastnn_step(fm, opt, nn.CrossEntropyLoss(), x, y)
    np.testing.assert_array_equal(fm.flat.data, before)


# --------------------------------------------------------------------------- subsets


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizer_over_a_subset(kind):
    fm, tm = make_pair("mlp")
    last, tlast = fm[-1], tm[-1]
    if kind == "sgd":
        fopt = optim.SGD(last.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
        topt = torch.optim.SGD(tlast.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    else:
        fopt = optim.Adam(last.parameters(), lr=1e-2)
        topt = torch.optim.Adam(tlast.parameters(), lr=1e-2)
    first_before = (fm[1].weight.data.copy(), fm[1].bias.data.copy())
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(3):
        fm.flat.grad[:] = 0  # full zero_grad of the model; the optimizer's own is tested below
        tm.zero_grad()
        loss_fn(fm.forward(x, True), y)
        fm.backward(loss_fn.backward(), input_grad=False)
        fopt.step()
        torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    np.testing.assert_array_equal(fm[1].weight.data, first_before[0])
    np.testing.assert_array_equal(fm[1].bias.data, first_before[1])
    assert_params_close(fm, tm)
    # zero_grad zeroes only the optimizer's own gradients
    assert fm[1].weight.grad.any() and fm[-1].weight.grad.any()
    fopt.zero_grad()
    assert not fm[-1].weight.grad.any() and not fm[-1].bias.grad.any()
    assert fm[1].weight.grad.any() and fm[1].bias.grad.any()


def test_two_optimizers_over_disjoint_subsets_equal_one_over_all():
    fa, _ = make_pair("mlp", seed=4)
    fb, _ = make_pair("mlp", seed=4)
    one = optim.SGD(fa.parameters(), lr=0.1, momentum=0.9)
    o1 = optim.SGD(fb[1].parameters(), lr=0.1, momentum=0.9)
    o2 = optim.SGD(fb[3].parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(3, seed=4):
        fastnn_step(fa, one, loss_fn, x, y)
        o1.zero_grad()
        o2.zero_grad()
        loss_fn(fb.forward(x, True), y)
        fb.backward(loss_fn.backward(), input_grad=False)
        o1.step()
        o2.step()
    np.testing.assert_array_equal(fa.flat.data, fb.flat.data)


def test_zero_grad_full_optimizer_zeroes_everything():
    fm, _ = make_pair("mlp")
    opt = optim.Adam(fm.parameters())
    fm.flat.grad[:] = 1.0
    opt.zero_grad()
    assert not fm.flat.grad.any()


# --------------------------------------------------------------------------- state dict


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_state_dict_round_trip_continues_identically(kind):
    def make_opt(params):
        if kind == "sgd":
            return optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
        return optim.Adam(params, lr=1e-3, weight_decay=1e-3)

    data = batches(6, seed=7)
    loss_fn = nn.CrossEntropyLoss()
    fa, _ = make_pair("mlp", seed=7)
    oa = make_opt(fa.parameters())
    for x, y in data[:3]:
        fastnn_step(fa, oa, loss_fn, x, y)
    model_sd, opt_sd = fa.state_dict(), oa.state_dict()
    assert opt_sd["step"] == 3
    # a fresh model/optimizer (different init, different lr) restored from the checkpoint
    fb, _ = make_pair("mlp", seed=8)
    ob = make_opt(fb.parameters())
    ob.param_groups[0]["lr"] = 123.0
    fb.load_state_dict(model_sd)
    ob.load_state_dict(opt_sd)
    assert ob.param_groups[0]["lr"] == oa.param_groups[0]["lr"]
    for x, y in data[3:]:
        fastnn_step(fa, oa, loss_fn, x, y)
        fastnn_step(fb, ob, loss_fn, x, y)
    np.testing.assert_array_equal(fa.flat.data, fb.flat.data)


def test_state_dict_is_a_copy():
    fm, _ = make_pair("mlp")
    opt = optim.Adam(fm.parameters())
    x, y = batches(1)[0]
    fastnn_step(fm, opt, nn.CrossEntropyLoss(), x, y)
    sd = opt.state_dict()
    for key, arr in sd["state"].items():
        assert arr.shape == (fm.flat.size,), key
        arr[...] = 9.0
    sd["param_groups"][0]["lr"] = 5.0
    assert opt.param_groups[0]["lr"] == 1e-3
    assert not np.any(opt.state_dict()["state"]["exp_avg"] == 9.0)


def test_load_state_dict_rejects_mismatched_groups_and_shapes():
    fm, _ = make_pair("mlp")
    one = optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
    two = optim.SGD(groups_of(fm), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="param groups"):
        one.load_state_dict(two.state_dict())
    small, _ = make_pair("lenet5")
    other = optim.SGD(small.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="momentum_buffer"):
        one.load_state_dict(other.state_dict())


# --------------------------------------------------------------------------- invalid arguments


def _params():
    return fastnn.models.mlp(hidden=8).parameters()


@pytest.mark.parametrize("make,fragment", [
    (lambda: optim.SGD(_params(), lr=-0.1), "lr"),
    (lambda: optim.SGD(_params(), lr=0.1, momentum=-0.5), "momentum"),
    (lambda: optim.SGD(_params(), lr=0.1, weight_decay=-1e-3), "weight_decay"),
    (lambda: optim.SGD(_params(), lr=0.1, nesterov=True), "nesterov"),
    (lambda: optim.SGD(_params(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda: optim.SGD([], lr=0.1), "empty"),
    (lambda: optim.Adam(_params(), lr=-1e-3), "lr"),
    (lambda: optim.Adam(_params(), betas=(1.0, 0.999)), "betas"),
    (lambda: optim.Adam(_params(), betas=(0.9, -0.1)), "betas"),
    (lambda: optim.Adam(_params(), eps=-1e-8), "eps"),
    (lambda: optim.Adam(_params(), weight_decay=-1.0), "weight_decay"),
])
def test_invalid_arguments_raise(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


def test_invalid_groups_raise():
    m = fastnn.models.mlp(hidden=8)
    ps = m.parameters()
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([{"params": ps[:2], "momentum": 0.5}, {"params": ps[2:]}], lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="Parameter"):
        optim.SGD([torch.zeros(3)], lr=0.1)


# --------------------------------------------------------------------------- one launch per step, prange path


class _CountingKernels:
    """Wraps a kernel module and records every kernel function called through it."""

    def __init__(self, module):
        self._module, self.calls = module, []

    def __getattr__(self, name):
        fn = getattr(self._module, name)

        def counted(*args):
            self.calls.append(name)
            return fn(*args)

        return counted


ALL_OPTIMIZERS = [
    lambda ps, b: optim.SGD(ps, lr=0.1, momentum=0.9, backend=b),
    lambda ps, b: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, convention="textbook", backend=b),
    lambda ps, b: optim.Adagrad(ps, backend=b),
    lambda ps, b: optim.RMSprop(ps, momentum=0.9, centered=True, backend=b),
    lambda ps, b: optim.RMSprop(ps, momentum=0.9, nesterov=True, backend=b),
    lambda ps, b: optim.Adam(ps, amsgrad=True, backend=b),
    lambda ps, b: optim.AdamW(ps, backend=b),
    lambda ps, b: optim.Adamax(ps, backend=b),
    lambda ps, b: optim.NAdam(ps, backend=b),
]


@pytest.mark.parametrize("make", ALL_OPTIMIZERS)
def test_one_kernel_launch_per_step(make):
    import types

    fm, _ = make_pair("mlp")
    k = _CountingKernels(fastnn.backend.CPU.k)
    backend = types.SimpleNamespace(k=k, zeros=np.zeros)
    opt = make(groups_of(fm), backend)  # two groups, several segments
    assert len(opt._seg_start) > 2
    x, y = batches(1)[0]
    for _ in range(3):
        fastnn_step(fm, opt, nn.CrossEntropyLoss(), x, y)
    assert len(k.calls) == 3 and len(set(k.calls)) == 1 and k.calls[0].endswith("_update"), k.calls


@pytest.mark.parametrize("make", ALL_OPTIMIZERS[::2])
def test_parallel_kernels_above_threshold_bitwise_equal_serial(make):
    import types

    rng = np.random.default_rng(0)
    n = 300_000
    init = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((n,), (1000,), (n // 3,))]
    grads = [rng.standard_normal(n + 1000 + n // 3).astype(np.float32) * 1e-2 for _ in range(3)]
    results = []
    for threshold in (10**12, 1):  # serial, then prange
        ps = [nn.Parameter(a.copy()) for a in init]
        flat = fastnn.params.FlatParams(ps)
        k = _CountingKernels(fastnn.backend.CPU.k)
        opt = make([{"params": [ps[0], ps[2]]}, {"params": [ps[1]], "lr": 1e-4}],
                   types.SimpleNamespace(k=k, zeros=np.zeros))
        opt.parallel_min = threshold
        for g in grads:
            flat.grad[:] = g
            opt.step()
        assert all(c.endswith("_parallel") == (threshold == 1) for c in k.calls), k.calls
        results.append(flat.data.copy())
    np.testing.assert_array_equal(results[0], results[1])
