"""Every update rule of fastnn.optim through the public API.

* 30-step trajectories on an MLP (784-32-10) vs torch.optim for every rule PyTorch has, with weight decay,
  the momentum / nesterov / dampening / amsgrad / centered / maximize switches, two param groups (weights and
  biases with different lr and weight decay) and the lr changed twice mid-run; a frozen group vs torch
  params without gradients.
* Rules PyTorch lacks vs the literal textbook algorithms in NumPy (Goodfellow et al. Alg. 8.2, 8.3, 8.5,
  8.6, gradient evaluated at the interim point) with changing lr; the two SGD conventions agree at constant
  lr and differ once lr changes; the L1 penalty of every rule vs the NumPy reference kernels.
* Every rule trains an MLP on 2,000 bundled MNIST digits past a stated accuracy.
* state_dict round trip (bitwise resume) for every optimizer; PyTorch-like ValueErrors.
"""

from __future__ import annotations

import fastnn  # noqa: F401, I001  # isort: skip

import types

import numpy as np
import pytest
import torch
import twins
from twins import batches, fastnn_step

import kernels
from fastnn import nn, optim
from fastnn.data import load_bundled_mnist, train_val_test
from fastnn.params import FlatParams, Parameter

torch.set_num_threads(1)

N_STEPS = 30


def make_pair(seed: int = 0):
    return twins.make_pair("mlp", seed, hidden=32)


def groups_of(model, base_lr: float, wd: float | None):
    """Weights (lr, wd) and biases (2 lr, no decay): two groups that interleave in the flat buffer."""
    named = list(model.named_parameters())
    weights = {"params": [p for n, p in named if n.endswith("weight")], "lr": base_lr}
    if wd is not None:
        weights["weight_decay"] = wd
    return [weights, {"params": [p for n, p in named if n.endswith("bias")], "lr": 2 * base_lr,
                      "weight_decay": 0.0}]


def change_lr(i: int, *opts) -> None:
    """lr x0.3 before step 10, x5 before step 20 (every group of every optimizer)."""
    factor = {10: 0.3, 20: 5.0}.get(i)
    if factor:
        for opt in opts:
            for g in opt.param_groups:
                g["lr"] *= factor


def max_rel_diff(fm, tm) -> tuple[float, int]:
    """(max |ours - torch| / (1e-3 + |torch|) over all parameters, number of elements above 1e-3 of that)."""
    tparams = dict(tm.named_parameters())
    worst, bad = 0.0, 0
    for name, p in fm.named_parameters():
        ref = tparams[name].detach().numpy()
        rel = np.abs(p.data - ref) / (1e-3 + np.abs(ref))
        worst = max(worst, float(rel.max()))
        bad += int((rel > 1e-3).sum())
    return worst, bad


# (fastnn class, torch class, base lr, kwargs for both, weight decay of the weights group)
# Tolerance on |ours - torch| / (1e-3 + |torch|) after 30 steps: SGD 1e-4 (measured <= 2.5e-5), adaptive rules
# 5e-3 (measured <= 4.3e-4: RMSProp/Adam divide by sqrt(v) + eps, which amplifies float32 rounding where v is
# tiny; where g + wd p cancels to ~eps a ~1e-9 difference can change a step by a few percent of lr, so up to
# ADAPTIVE_OUTLIERS elements of 25,450 may exceed 1e-3 relative (measured: none).
TORCH_CASES = {
    "sgd-momentum-wd": (optim.SGD, torch.optim.SGD, 0.05, {"momentum": 0.9}, 1e-3),
    "sgd-nesterov-wd": (optim.SGD, torch.optim.SGD, 0.05, {"momentum": 0.9, "nesterov": True}, 1e-3),
    "sgd-dampening": (optim.SGD, torch.optim.SGD, 0.05, {"momentum": 0.8, "dampening": 0.2}, 0.0),
    "sgd-maximize": (optim.SGD, torch.optim.SGD, 0.002, {"momentum": 0.5, "maximize": True}, 1e-3),
    "adagrad": (optim.Adagrad, torch.optim.Adagrad, 0.01,
                {"lr_decay": 0.01, "initial_accumulator_value": 0.1}, 1e-3),
    "rmsprop": (optim.RMSprop, torch.optim.RMSprop, 1e-3, {}, None),
    "rmsprop-momentum-centered-wd": (optim.RMSprop, torch.optim.RMSprop, 1e-3,
                                     {"momentum": 0.9, "centered": True, "alpha": 0.9}, 1e-3),
    "adam-wd": (optim.Adam, torch.optim.Adam, 1e-3, {}, 1e-3),
    "adam-amsgrad-maximize": (optim.Adam, torch.optim.Adam, 1e-3, {"amsgrad": True, "maximize": True}, None),
    "adamw-amsgrad": (optim.AdamW, torch.optim.AdamW, 1e-3, {"amsgrad": True}, 5e-2),
    "adamax-wd": (optim.Adamax, torch.optim.Adamax, 2e-3, {"betas": (0.8, 0.99)}, 1e-3),
    "nadam-wd": (optim.NAdam, torch.optim.NAdam, 2e-3, {}, 1e-3),
    "nadam-decoupled": (optim.NAdam, torch.optim.NAdam, 2e-3, {"decoupled_weight_decay": True}, 1e-2),
}
ADAPTIVE_OUTLIERS = 6


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_trajectory_matches_torch(case):
    fcls, tcls, lr, kwargs, wd = TORCH_CASES[case]
    fm, tm = make_pair(seed=1)
    fopt = fcls(groups_of(fm, lr, wd), lr=123.0, **kwargs)  # group lrs override the default
    topt = tcls(groups_of(tm, lr, wd), lr=123.0, **kwargs)
    loss_fn = nn.CrossEntropyLoss()
    for i, (x, y) in enumerate(batches(N_STEPS, seed=1)):
        change_lr(i, fopt, topt)
        fastnn_step(fm, fopt, loss_fn, x, y)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    worst, bad = max_rel_diff(fm, tm)
    adaptive = fcls not in (optim.SGD,)
    assert bad <= (ADAPTIVE_OUTLIERS if adaptive else 0), f"{case}: {bad} elements beyond 1e-3 (worst {worst:.2e})"
    assert worst < (5e-3 if adaptive else 1e-4), f"{case}: worst relative difference {worst:.2e}"
    # the parameters really moved, and by the same amount as torch's
    moved = np.abs(fm.flat.data - make_pair(seed=1)[0].flat.data).max()
    assert moved > 10 * lr * 0.3


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_frozen_group_matches_torch_without_grads(kind):
    fm, tm = make_pair(seed=2)
    fgroups, tgroups = groups_of(fm, 0.05 if kind == "sgd" else 1e-3, 1e-3), groups_of(tm, 0.05, 1e-3)
    if kind == "adam":
        tgroups = groups_of(tm, 1e-3, 1e-3)
    fgroups[1]["frozen"] = True  # biases frozen
    for p in tgroups[1]["params"]:
        p.requires_grad_(False)
    make = (lambda g, m: m.SGD(g, lr=1.0, momentum=0.9)) if kind == "sgd" else (lambda g, m: m.Adam(g, lr=1.0))
    fopt, topt = make(fgroups, optim), make(tgroups, torch.optim)
    frozen_before = [p.data.copy() for p in fgroups[1]["params"]]
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(8, seed=2):
        fastnn_step(fm, fopt, loss_fn, x, y)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    for p, before in zip(fgroups[1]["params"], frozen_before):
        np.testing.assert_array_equal(p.data, before)
    worst, bad = max_rel_diff(fm, tm)
    assert bad <= (0 if kind == "sgd" else ADAPTIVE_OUTLIERS) and worst < (1e-4 if kind == "sgd" else 5e-3)
    # frozen stretches of the state are untouched; unfreezing later brings the group back
    state = fopt.state["momentum_buffer" if kind == "sgd" else "exp_avg"]
    for p in fgroups[1]["params"]:
        assert not state[p.offset:p.offset + p.size].any()
    fopt.param_groups[1]["frozen"] = False
    fastnn_step(fm, fopt, loss_fn, *batches(1, seed=3)[0])
    assert not np.array_equal(fgroups[1]["params"][0].data, frozen_before[0])


# ------------------------------------------------------------------- textbook algorithms (no torch counterpart)

LRS = [0.1] * 5 + [0.03] * 5 + [0.2] * 5 + [0.05] * 5


def quadratic(n: int = 8, seed: int = 0):
    """grad(x) = A x - b with A symmetric positive definite (condition ~10)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.linspace(0.1, 1.0, n)) @ q.T
    b = rng.standard_normal(n)
    x0 = rng.standard_normal(n)
    return (lambda x: a @ x - b), x0


def textbook(kind: str, grad, x0, alpha: float, rho: float = 0.9, eps: float = 1e-6):
    """Literal Goodfellow et al. algorithms in float64: the sequence of theta (and of the interim points)."""
    theta, v, r = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    thetas, interim = [], []
    for lr in LRS:
        nesterov = kind in ("nesterov", "rmsprop_nesterov")
        point = theta + alpha * v if nesterov else theta  # Alg. 8.3 / 8.6: gradient at the interim point
        g = grad(point)
        if kind in ("momentum", "nesterov"):  # Alg. 8.2 / 8.3
            v = alpha * v - lr * g
            theta = theta + v
        elif kind == "rmsprop":  # Alg. 8.5
            r = rho * r + (1 - rho) * g * g
            theta = theta - lr / np.sqrt(eps + r) * g
        else:  # Alg. 8.6
            r = rho * r + (1 - rho) * g * g
            v = alpha * v - lr / np.sqrt(eps + r) * g
            theta = theta + v
        thetas.append(theta.copy())
        interim.append(theta + alpha * v if nesterov else theta.copy())
    return thetas, interim


def run_ours(make_opt, grad, x0):
    p = Parameter(x0.astype(np.float32))
    FlatParams([p])
    opt = make_opt([p])
    thetas, points = [], []
    for lr in LRS:
        opt.param_groups[0]["lr"] = lr
        p.grad[...] = grad(p.data.astype(np.float64))  # the gradient at the model's current parameters
        opt.step()
        thetas.append(opt.textbook_theta().astype(np.float64))
        points.append(p.data.astype(np.float64))
    return thetas, points


@pytest.mark.parametrize("kind", ["momentum", "nesterov", "rmsprop", "rmsprop_nesterov"])
def test_textbook_algorithms(kind):
    grad, x0 = quadratic(seed=3)
    alpha = 0.9
    if kind in ("momentum", "nesterov"):
        def make(ps):
            return optim.SGD(ps, lr=1.0, momentum=alpha, nesterov=kind == "nesterov", convention="textbook")
    else:
        def make(ps):
            return optim.RMSprop(ps, lr=1.0, alpha=0.9, eps=1e-6, eps_inside_sqrt=True, momentum=alpha,
                                 nesterov=kind == "rmsprop_nesterov")
        if kind == "rmsprop":
            def make(ps):  # noqa: F811
                return optim.RMSprop(ps, lr=1.0, alpha=0.9, eps=1e-6, eps_inside_sqrt=True)
    ref_theta, ref_points = textbook(kind, grad, x0, alpha)
    theta, points = run_ours(make, grad, x0)
    for t, (a, b, c, d) in enumerate(zip(theta, ref_theta, points, ref_points)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5, err_msg=f"theta, step {t + 1}")
        np.testing.assert_allclose(c, d, rtol=2e-5, atol=2e-5, err_msg=f"interim point, step {t + 1}")
    assert np.abs(ref_theta[-1] - x0).max() > 0.5  # it actually went somewhere


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_conventions_agree_at_constant_lr_and_differ_when_it_changes(nesterov):
    grad, x0 = quadratic(seed=4)

    def run(convention, lrs):
        p = Parameter(x0.astype(np.float32))
        FlatParams([p])
        opt = optim.SGD([p], lr=lrs[0], momentum=0.9, nesterov=nesterov, convention=convention)
        for lr in lrs:
            opt.param_groups[0]["lr"] = lr
            p.grad[...] = grad(p.data.astype(np.float64))
            opt.step()
        return p.data.astype(np.float64)

    constant = [0.1] * 20
    np.testing.assert_allclose(run("textbook", constant), run("pytorch", constant), rtol=1e-5, atol=1e-5)
    changing = LRS
    a, b = run("textbook", changing), run("pytorch", changing)
    assert np.abs(a - b).max() > 1e-2, "the conventions must differ once the lr changes"
    # the textbook run is the textbook algorithm (for nesterov the model holds the interim point)
    _, interim = textbook("nesterov" if nesterov else "momentum", grad, x0, 0.9)
    np.testing.assert_allclose(a, interim[-1], rtol=1e-4, atol=1e-4)


def test_sgd_without_momentum_is_the_same_in_both_conventions():
    fa, _ = make_pair(seed=6)
    fb, _ = make_pair(seed=6)
    oa = optim.SGD(fa.parameters(), lr=0.05, weight_decay=1e-3)
    ob = optim.SGD(fb.parameters(), lr=0.05, weight_decay=1e-3, convention="textbook")
    assert ob.state["velocity"].size == 0  # never allocated, never touched
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(4, seed=6):
        fastnn_step(fa, oa, loss_fn, x, y)
        fastnn_step(fb, ob, loss_fn, x, y)
    np.testing.assert_array_equal(fa.flat.data, fb.flat.data)


# ------------------------------------------------------------------- L1 (and everything else) vs the reference


REFERENCE = types.SimpleNamespace(k=kernels.get("reference"), zeros=np.zeros)
ALL_RULES = {
    "sgd": lambda ps, **kw: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, **kw),
    "sgd-textbook": lambda ps, **kw: optim.SGD(ps, lr=0.05, momentum=0.9, convention="textbook", **kw),
    "adagrad": lambda ps, **kw: optim.Adagrad(ps, lr=0.01, lr_decay=0.01, **kw),
    "rmsprop": lambda ps, **kw: optim.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True, **kw),
    "rmsprop-inside": lambda ps, **kw: optim.RMSprop(ps, lr=1e-3, eps=1e-6, eps_inside_sqrt=True, **kw),
    "rmsprop-nesterov": lambda ps, **kw: optim.RMSprop(ps, lr=1e-3, momentum=0.9, nesterov=True, **kw),
    "adam": lambda ps, **kw: optim.Adam(ps, lr=1e-3, amsgrad=True, **kw),
    "adamw": lambda ps, **kw: optim.AdamW(ps, lr=1e-3, **kw),
    "adamax": lambda ps, **kw: optim.Adamax(ps, **kw),
    "nadam": lambda ps, **kw: optim.NAdam(ps, **kw),
}


@pytest.mark.parametrize("rule", sorted(ALL_RULES))
def test_l1_groups_and_lr_changes_match_reference_kernels(rule):
    """The same host code driving the NumPy reference kernels: 12 steps, groups with l1 / weight decay."""
    def groups(m):
        named = list(m.named_parameters())
        return [{"params": [p for n, p in named if n.endswith("weight")], "l1": 1e-3, "weight_decay": 1e-3},
                {"params": [p for n, p in named if n.endswith("bias")], "l1": 0.0}]

    fa, _ = make_pair(seed=5)
    fb, _ = make_pair(seed=5)
    oa = ALL_RULES[rule](groups(fa))
    ob = ALL_RULES[rule](groups(fb), backend=REFERENCE)
    loss_fn = nn.CrossEntropyLoss()
    for i, (x, y) in enumerate(batches(12, seed=5)):
        change_lr(i + 6, oa, ob)  # changes before steps 4 and 14
        fastnn_step(fa, oa, loss_fn, x, y)
        fastnn_step(fb, ob, loss_fn, x, y)
    np.testing.assert_allclose(fa.flat.data, fb.flat.data, rtol=1e-4, atol=1e-5)
    # the L1 term really acts: without it the weights end elsewhere
    fc, _ = make_pair(seed=5)
    oc = ALL_RULES[rule](fc.parameters())
    for x, y in batches(12, seed=5):
        fastnn_step(fc, oc, loss_fn, x, y)
    assert np.abs(fc.flat.data - fa.flat.data).max() > 1e-5


# ------------------------------------------------------------------- convergence on real digits


@pytest.fixture(scope="module")
def digits():
    images, labels = load_bundled_mnist()
    split = train_val_test(images[:2000], labels[:2000], fractions=(0.8, 0.1, 0.1), seed=0)
    return split["train"], split["test"]


CONVERGENCE = {  # rule -> optimizer; every one must reach MIN_ACCURACY on held-out digits after 2 epochs
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9, weight_decay=1e-4),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True),
    "sgd-textbook-nesterov": lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True, convention="textbook"),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.02),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-3),
    "rmsprop-centered-momentum": lambda ps: optim.RMSprop(ps, lr=3e-4, momentum=0.9, centered=True),
    "rmsprop-nesterov": lambda ps: optim.RMSprop(ps, lr=3e-4, momentum=0.9, nesterov=True, eps=1e-6,
                                                 eps_inside_sqrt=True),
    "adam": lambda ps: optim.Adam(ps, lr=2e-3),
    "amsgrad": lambda ps: optim.Adam(ps, lr=2e-3, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=2e-3),
    "adamax": lambda ps: optim.Adamax(ps, lr=4e-3),
    "nadam": lambda ps: optim.NAdam(ps, lr=2e-3),
    "sgd-l1": lambda ps: optim.SGD(ps, lr=0.05, l1=1e-4),
}
MIN_ACCURACY = 0.92  # measured 0.96-0.975 on the 200 held-out digits


@pytest.mark.parametrize("rule", sorted(CONVERGENCE))
def test_trains_mnist_subset(rule, digits):
    train, test = digits
    fastnn.manual_seed(0)
    model = fastnn.models.mlp(hidden=64)
    loss_fn = nn.CrossEntropyLoss()
    opt = CONVERGENCE[rule](model.parameters())
    before = fastnn.evaluate(model, loss_fn, test)["accuracy"]
    fastnn.fit(model, loss_fn, opt, train, epochs=2, batch_size=32, seed=0, progress=False)
    acc = fastnn.evaluate(model, loss_fn, test)["accuracy"]
    assert before < 0.3 and acc >= MIN_ACCURACY, f"{rule}: test accuracy {acc:.3f} (before {before:.3f})"


# ------------------------------------------------------------------- state_dict: bitwise resume


@pytest.mark.parametrize("rule", sorted(ALL_RULES))
def test_state_dict_resume_is_bitwise(rule):
    data = batches(8, seed=7)
    loss_fn = nn.CrossEntropyLoss()
    fa, _ = make_pair(seed=7)
    oa = ALL_RULES[rule](groups_of(fa, 1e-3, 1e-3))
    for x, y in data[:4]:
        fastnn_step(fa, oa, loss_fn, x, y)
    model_sd, opt_sd = fa.state_dict(), oa.state_dict()
    fb, _ = make_pair(seed=8)
    ob = ALL_RULES[rule](groups_of(fb, 0.5, 0.5))  # different settings: all restored
    fb.load_state_dict(model_sd)
    ob.load_state_dict(opt_sd)
    for x, y in data[4:]:
        fastnn_step(fa, oa, loss_fn, x, y)
        fastnn_step(fb, ob, loss_fn, x, y)
    np.testing.assert_array_equal(fa.flat.data, fb.flat.data)
    for k, v in oa.state.items():
        np.testing.assert_array_equal(v, ob.state[k], err_msg=k)


def test_load_state_dict_rejects_other_optimizers_state():
    fm, _ = make_pair()
    sgd = optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
    adam = optim.Adam(fm.parameters())
    with pytest.raises(ValueError, match="unexpected state"):
        sgd.load_state_dict(adam.state_dict())
    textbook = optim.SGD(fm.parameters(), lr=0.1, momentum=0.9, convention="textbook")
    fastnn_step(fm, textbook, nn.CrossEntropyLoss(), *batches(1)[0])
    with pytest.raises(ValueError, match="velocity"):
        sgd.load_state_dict(textbook.state_dict())
    small = fastnn.models.mlp(hidden=8)
    with pytest.raises(ValueError, match="expected shape"):
        optim.Adagrad(small.parameters()).load_state_dict(optim.Adagrad(fm.parameters()).state_dict())


# ------------------------------------------------------------------- argument validation


def _ps():
    return fastnn.models.mlp(hidden=8).parameters()


@pytest.mark.parametrize("make,fragment", [
    (lambda: optim.SGD(_ps(), lr=0.1, l1=-1e-3), "l1"),
    (lambda: optim.SGD(_ps(), lr=0.1, momentum=0.9, convention="textbook", dampening=0.1), "dampening"),
    (lambda: optim.SGD(_ps(), lr=0.1, convention="keras"), "convention"),
    (lambda: optim.SGD(_ps(), lr=float("nan")), "lr"),
    (lambda: optim.Adagrad(_ps(), lr=-0.1), "lr"),
    (lambda: optim.Adagrad(_ps(), lr_decay=-0.1), "lr_decay"),
    (lambda: optim.Adagrad(_ps(), initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: optim.Adagrad(_ps(), eps=-1e-10), "eps"),
    (lambda: optim.RMSprop(_ps(), alpha=-0.5), "alpha"),
    (lambda: optim.RMSprop(_ps(), momentum=-0.5), "momentum"),
    (lambda: optim.RMSprop(_ps(), eps=-1.0), "eps"),
    (lambda: optim.RMSprop(_ps(), weight_decay=-1.0), "weight_decay"),
    (lambda: optim.RMSprop(_ps(), nesterov=True), "nesterov"),
    (lambda: optim.AdamW(_ps(), betas=(0.9, 1.0)), "betas"),
    (lambda: optim.AdamW(_ps(), weight_decay=-1e-2), "weight_decay"),
    (lambda: optim.Adamax(_ps(), betas=(-0.1, 0.9)), "betas"),
    (lambda: optim.Adamax(_ps(), lr=-2e-3), "lr"),
    (lambda: optim.NAdam(_ps(), momentum_decay=-1.0), "momentum_decay"),
    (lambda: optim.NAdam(_ps(), betas=(0.9,)), "betas"),
    (lambda: optim.Adam([{"params": _ps(), "l1": -1.0}]), "l1"),
])
def test_invalid_hyperparameters_raise(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


def test_invalid_setting_written_later_raises_at_step():
    fm, _ = make_pair()
    opt = optim.Adam(fm.parameters())
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.step()
    two = optim.RMSprop(groups_of(fm, 1e-3, None))
    two.param_groups[1]["alpha"] = 0.5
    with pytest.raises(ValueError, match="alpha"):
        two.step()


def test_add_param_group_and_closure():
    fm, _ = make_pair()
    first, last = fm[1].parameters(), fm[3].parameters()
    opt = optim.Adagrad(first, lr=0.01, initial_accumulator_value=0.5)
    opt.add_param_group({"params": last, "lr": 0.1, "initial_accumulator_value": 0.25})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.state["sum"][fm[3].weight.offset] == 0.25
    with pytest.raises(ValueError, match="more than one group"):
        opt.add_param_group({"params": last[:1]})
    with pytest.raises(ValueError, match="flat buffer"):
        opt.add_param_group({"params": [Parameter(np.zeros(3, np.float32))]})
    loss_fn = nn.CrossEntropyLoss()
    x, y = batches(1)[0]

    def closure():
        opt.zero_grad()
        loss = loss_fn(fm.forward(x, True), y)
        fm.backward(loss_fn.backward(), input_grad=False)
        return loss

    expected = loss_fn(fm.forward(x, True), y)
    before = fm.flat.data.copy()
    assert opt.step(closure) == expected
    assert not np.array_equal(fm.flat.data, before)
