"""Learning-rate schedules vs torch.optim.lr_scheduler: 300-step lr (and momentum) sequences, fractional
SGDR epochs, ReduceLROnPlateau on a scripted metric, pure functions, the textbook linear decay, warm-up,
state_dict resume, fit() integration, previews and argument validation."""

from __future__ import annotations

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import json
import math
import sys
import warnings

import numpy as np
import pytest
import torch

from fastnn import nn, optim
from fastnn.optim import lr_scheduler as F
from fastnn.params import Parameter

T = torch.optim.lr_scheduler
LR = (0.1, 0.01)  # two param groups with different base lrs
STEPS = 300


def fastnn_opt(kind: str = "sgd"):
    ps = [Parameter(np.zeros(3, np.float32)), Parameter(np.zeros(2, np.float32))]
    groups = [{"params": [ps[0]]}, {"params": [ps[1]], "lr": LR[1]}]
    return optim.Adam(groups, lr=LR[0]) if kind == "adam" else optim.SGD(groups, lr=LR[0], momentum=0.9)


def torch_opt(kind: str = "sgd"):
    ps = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))]
    groups = [{"params": [ps[0]]}, {"params": [ps[1]], "lr": LR[1]}]
    return torch.optim.Adam(groups, lr=LR[0]) if kind == "adam" else torch.optim.SGD(groups, lr=LR[0], momentum=0.9)


def momenta(opt) -> list[float]:
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def run(module, make, opt, steps: int = STEPS, metrics=None):
    """lrs (steps+1, groups), momenta, get_last_lr and last_epoch after construction and every step."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "scheduler.step() before optimizer.step()" etc.
        sched = make(module, opt)
        lrs, moms, last = [[g["lr"] for g in opt.param_groups]], [momenta(opt)], [list(sched.get_last_lr())]
        epochs = [getattr(sched, "last_epoch", None)]  # torch's ChainedScheduler has none
        for t in range(steps):
            if metrics is None:
                sched.step()
            else:
                sched.step(metrics[t])
            lrs.append([g["lr"] for g in opt.param_groups])
            moms.append(momenta(opt))
            last.append(list(sched.get_last_lr()))
            epochs.append(getattr(sched, "last_epoch", None))
    return np.array(lrs), np.array(moms), np.array(last), epochs, sched


def assert_same_sequence(a: np.ndarray, b: np.ndarray) -> None:
    """Equal to float64 rounding: PyTorch evaluates several schedules recursively, fastnn in closed form."""
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


CASES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[10, 50, 50, 200], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.98),
    "LinearLR-warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=40),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=150),
    "PolynomialLR-1": lambda m, o: m.PolynomialLR(o, total_iters=120, power=1.0),
    "PolynomialLR-2": lambda m, o: m.PolynomialLR(o, total_iters=250, power=2.0),
    "PolynomialLR-0.5": lambda m, o: m.PolynomialLR(o, total_iters=90, power=0.5),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=300),
    "CosineAnnealingLR-periodic": lambda m, o: m.CosineAnnealingLR(o, T_max=70, eta_min=0.001),
    "SGDR-Tmult1": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=1, eta_min=0.001),
    "SGDR-Tmult2": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001),
    "SGDR-Tmult3": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=3),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.1], total_steps=300),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(o, max_lr=0.5, epochs=30, steps_per_epoch=10,
                                                          anneal_strategy="linear", three_phase=True),
    "OneCycleLR-cos-3phase": lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=300, pct_start=0.25,
                                                       three_phase=True, base_momentum=0.8, max_momentum=0.99,
                                                       div_factor=10.0, final_div_factor=100.0),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=300, cycle_momentum=False),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=10), m.CosineAnnealingLR(o, T_max=290)], milestones=[10]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.25, total_iters=10), m.CosineAnnealingWarmRestarts(o, T_0=20, T_mult=2),
            m.ExponentialLR(o, gamma=0.99)], milestones=[10, 150]),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.2, total_iters=15), m.ExponentialLR(o, gamma=0.99),
         m.StepLR(o, step_size=40, gamma=0.5)]),
}


def with_kinds(names):
    """Every case with SGD; OneCycle ones with Adam too (the optimizer kind only matters for momentum / beta1)."""
    return [(n, "sgd") for n in names] + [(n, "adam") for n in names if n.startswith("OneCycle")]


@pytest.mark.parametrize("name, kind", with_kinds(CASES))
def test_300_steps_equal_pytorch(name, kind):
    f_lrs, f_mom, f_last, f_epochs, _ = run(F, CASES[name], fastnn_opt(kind))
    t_lrs, t_mom, t_last, t_epochs, _ = run(T, CASES[name], torch_opt(kind))
    assert_same_sequence(f_lrs, t_lrs)
    assert_same_sequence(f_last, t_last)
    assert_same_sequence(f_mom, t_mom)  # OneCycle cycles momentum / beta1; the rest leave it alone
    assert f_epochs == t_epochs or t_epochs[0] is None
    assert f_epochs == list(range(STEPS + 1))
    assert len({tuple(r) for r in f_lrs.tolist()}) > 2, "the schedule should actually change the lr"


@pytest.mark.parametrize("name", list(CASES))
def test_lr_at_is_the_pure_function_step_applies(name):
    lrs, moms, _, _, sched = run(F, CASES[name], fastnn_opt())
    for t in range(STEPS + 1):
        assert [sched.lr_at(t, g) for g in range(2)] == lrs[t].tolist()
        if isinstance(sched, F.OneCycleLR) and sched.cycle_momentum:
            assert [sched.momentum_at(t, g) for g in range(2)] == moms[t].tolist()
    assert sched.last_epoch == STEPS  # lr_at never touched the state


def test_onecycle_momentum_cycles_inversely_and_stops_at_total_steps():
    opt = fastnn_opt()
    sched = F.OneCycleLR(opt, max_lr=1.0, total_steps=100)
    lrs, moms = [], []
    for _ in range(100):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
    peak = int(np.argmax(lrs))
    assert abs(lrs[peak] - 1.0) < 1e-3 and abs(moms[peak] - 0.85) < 1e-3
    assert np.argmin(moms) == peak
    with pytest.raises(ValueError, match="total steps"):
        sched.step()


# --------------------------------------------------------------------------- SGDR fractional epochs


@pytest.mark.parametrize("t_mult", [1, 2])
def test_sgdr_fractional_epochs_equal_pytorch(t_mult):
    iters = 7  # batches per epoch: step(epoch + i / iters), as in PyTorch's docs

    def make(m, o):
        return m.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=t_mult, eta_min=0.002)

    seqs = []
    for m, opt in ((F, fastnn_opt()), (T, torch_opt())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = make(m, opt)
            out = []
            for epoch in range(43):
                for i in range(iters):
                    sched.step(epoch + i / iters)
                    out.append([g["lr"] for g in opt.param_groups] + [sched.T_cur, sched.T_i, sched.last_epoch])
        seqs.append(np.array(out, dtype=np.float64))
    assert_same_sequence(seqs[0], seqs[1])


def test_sgdr_restart_boundaries_are_exact():
    """PyTorch's float logarithm puts epoch 121 (= 1+3+9+27+81, a restart) at the end of the previous
    cycle (lr = eta_min) for T_0=1, T_mult=3; fastnn's integer search restarts there (lr = base)."""
    sched = F.CosineAnnealingWarmRestarts(fastnn_opt(), T_0=1, T_mult=3, eta_min=0.0)
    for boundary in (1, 4, 13, 40, 121, 364):
        assert sched.lr_at(boundary) == pytest.approx(LR[0], rel=1e-15), boundary
        assert sched.lr_at(boundary - 1e-9) < 1e-12
    sched.step(121)
    assert (sched.T_cur, sched.T_i) == (0, 243) and sched.get_last_lr()[0] == pytest.approx(LR[0])
    # incremental stepping reaches the same place
    inc = F.CosineAnnealingWarmRestarts(fastnn_opt(), T_0=1, T_mult=3)
    for _ in range(121):
        inc.step()
    assert (inc.T_cur, inc.T_i) == (0, 243)


# --------------------------------------------------------------------------- ReduceLROnPlateau


def scripted_metric(n: int = STEPS, seed: int = 0) -> list[float]:
    """Improves, plateaus (noisy), improves again, then worsens: every branch of the rule fires."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = np.where(t < 60, 1.0 / (1 + 0.05 * t), 1.0 / (1 + 0.05 * 60))
    base = np.where((t >= 140) & (t < 180), base[59] * (1 - 0.004 * (t - 139)), base)
    base = np.where(t >= 180, base[179] + 0.001 * (t - 179), base)
    return (base + 0.002 * rng.standard_normal(n)).tolist()


PLATEAU_CASES = {
    "min-rel": dict(mode="min", factor=0.5, patience=5),
    "min-abs-cooldown": dict(mode="min", factor=0.3, patience=3, threshold=1e-3, threshold_mode="abs", cooldown=4),
    "max-rel-minlr": dict(mode="max", factor=0.5, patience=2, min_lr=[0.004, 0.0001]),
    "max-abs-patience0": dict(mode="max", factor=0.7, patience=0, threshold=0.0005, threshold_mode="abs",
                              min_lr=1e-4, eps=1e-6),
}


@pytest.mark.parametrize("name", list(PLATEAU_CASES))
def test_reduce_lr_on_plateau_equals_pytorch(name):
    kw = PLATEAU_CASES[name]
    metric = scripted_metric()
    if kw["mode"] == "max":
        metric = [-m for m in metric]
    f = run(F, lambda m, o: m.ReduceLROnPlateau(o, **kw), fastnn_opt(), metrics=metric)
    t = run(T, lambda m, o: m.ReduceLROnPlateau(o, **kw), torch_opt(), metrics=metric)
    np.testing.assert_array_equal(f[0], t[0])
    np.testing.assert_array_equal(f[2], t[2])
    assert f[3] == t[3]
    fs, ts = f[4], t[4]
    assert (fs.best, fs.num_bad_epochs, fs.cooldown_counter) == (ts.best, ts.num_bad_epochs, ts.cooldown_counter)
    assert len(np.unique(f[0][:, 0])) >= 3, "the scripted metric should trigger several reductions"


def test_reduce_lr_on_plateau_needs_a_metric_and_has_no_pure_function():
    sched = F.ReduceLROnPlateau(fastnn_opt())
    with pytest.raises(TypeError, match="metric"):
        sched.step()
    with pytest.raises(TypeError, match="metric"):
        sched.lr_at(3)
    with pytest.raises(ValueError, match="metric"):
        F.lr_schedule("ReduceLROnPlateau", 0.1)


# --------------------------------------------------------------------------- textbook decay and warm-up


def test_linear_decay_is_the_textbook_formula():
    tau, eps0, eps_tau = 100, 0.1, 0.001
    opt = fastnn_opt()
    sched = F.LinearDecay(opt, tau=tau, final_lr=[eps_tau, 0.0005])
    got = [opt.param_groups[0]["lr"]]
    for _ in range(STEPS):
        sched.step()
        got.append(opt.param_groups[0]["lr"])
    expected = [(1 - k / tau) * eps0 + (k / tau) * eps_tau if k <= tau else eps_tau for k in range(STEPS + 1)]
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    assert got[0] == eps0 and got[tau] == eps_tau and got[-1] == eps_tau
    assert sched.lr_at(tau, 1) == 0.0005 and sched.lr_at(50, 1) == pytest.approx((0.01 + 0.0005) / 2)
    # final_lr above the initial lr: a linear increase (LinearLR's factors cannot express it)
    up = F.lr_schedule("linear_decay", 0.01, tau=10, final_lr=0.02)
    assert [round(up(k), 12) for k in (0, 5, 10, 20)] == [0.01, 0.015, 0.02, 0.02]


@pytest.mark.parametrize("final", [0.0, 0.002, 0.01])
def test_linear_decay_coincides_with_linearlr_and_polynomiallr(final):
    tau = 120
    f = run(F, lambda m, o: F.LinearDecay(o, tau=tau, final_lr=[final, final * LR[1] / LR[0]]), fastnn_opt())[0]
    lin = run(T, lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=final / LR[0], total_iters=tau),
              torch_opt())[0]
    assert_same_sequence(f, lin)
    if final == 0.0:
        poly = run(T, lambda m, o: m.PolynomialLR(o, total_iters=tau, power=1.0), torch_opt())[0]
        assert_same_sequence(f, poly)


@pytest.mark.parametrize("after", ["cosine", "sgdr", None])
def test_linear_warmup_composes_with_any_schedule(after):
    w = 12

    def make_after(m, o):
        if after == "cosine":
            return m.CosineAnnealingLR(o, T_max=STEPS - w, eta_min=1e-4)
        if after == "sgdr":
            return m.CosineAnnealingWarmRestarts(o, T_0=25, T_mult=2)
        return m.ConstantLR(o, factor=1.0, total_iters=1) if m is T else None

    f = run(F, lambda m, o: F.LinearWarmup(o, warmup_steps=w, after=make_after(m, o)), fastnn_opt())[0]
    t = run(T, lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=1 / (w + 1), total_iters=w), make_after(m, o)], milestones=[w]),
        torch_opt())[0]
    assert_same_sequence(f, t)
    for k in range(w + 1):  # the ramp: base * (k + 1) / (w + 1), reaching base at step w
        assert f[k, 0] == pytest.approx(LR[0] * min(k + 1, w + 1) / (w + 1), rel=1e-14)


def test_lr_schedule_pure_functions_equal_pytorch():
    cases = [
        (F.lr_schedule("cosine", 0.1, T_max=50), lambda m, o: m.CosineAnnealingLR(o, T_max=50)),
        (F.lr_schedule("StepLR", 0.1, step_size=30), lambda m, o: m.StepLR(o, step_size=30)),
        (F.lr_schedule("sgdr", 0.1, T_0=10, T_mult=2), lambda m, o: m.CosineAnnealingWarmRestarts(o, 10, 2)),
        (F.lr_schedule("onecycle", max_lr=1.0, total_steps=STEPS), lambda m, o: m.OneCycleLR(o, 1.0, STEPS)),
        (F.lr_schedule("warmup", 0.1, warmup_steps=5, after=("cosine", {"T_max": 95})),
         lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 1 / 6, total_iters=5), m.CosineAnnealingLR(o, 95)], [5])),
        (F.lr_schedule("SequentialLR", 0.1, schedulers=[("linear", {"start_factor": 0.5, "total_iters": 4}),
                                                       ("exponential", {"gamma": 0.9})], milestones=[4]),
         lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.5, total_iters=4), m.ExponentialLR(o, 0.9)], [4])),
        (F.lr_schedule(F.ChainedScheduler, 0.1, schedulers=[("exponential", {"gamma": 0.95}),
                                                            ("step", {"step_size": 10, "gamma": 0.5})]),
         lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, 0.95), m.StepLR(o, 10, 0.5)])),
    ]
    for fn, make in cases:
        t = run(T, make, torch_opt())[0][:, 0]
        assert_same_sequence(np.array([fn(k) for k in range(STEPS + 1)]), t)
    one = F.lr_schedule("onecycle", max_lr=1.0, total_steps=STEPS)
    t_mom = run(T, lambda m, o: m.OneCycleLR(o, 1.0, STEPS), torch_opt())[1][:, 0]
    assert_same_sequence(np.array([one.momentum(k) for k in range(STEPS + 1)]), t_mom)
    assert F.lr_schedule("exponential", gamma=0.5)(3) == 0.125  # lr=1.0: the multiplier
    with pytest.raises(ValueError, match="unknown schedule"):
        F.lr_schedule("cosine_annealing_typo", T_max=3)


# --------------------------------------------------------------------------- checkpoints


RESUME_CASES = [n for n in CASES if n in (
    "StepLR", "MultiStepLR", "LinearLR-warmup", "PolynomialLR-2", "CosineAnnealingLR-periodic", "SGDR-Tmult2",
    "OneCycleLR-cos", "OneCycleLR-linear-3phase", "SequentialLR-three", "ChainedScheduler")]


@pytest.mark.parametrize("name, kind", with_kinds(RESUME_CASES + ["ReduceLROnPlateau"]))
def test_state_dict_round_trip_mid_schedule_continues_identically(name, kind):
    metric = scripted_metric()
    if name == "ReduceLROnPlateau":
        def make(m, o):
            return m.ReduceLROnPlateau(o, factor=0.5, patience=3, cooldown=2)
    else:
        make = CASES[name]

    def stepper(sched, t):
        if name == "ReduceLROnPlateau":
            sched.step(metric[t])
        else:
            sched.step()

    whole_opt = fastnn_opt(kind)
    whole = make(F, whole_opt)
    expected = []
    for t in range(STEPS):
        stepper(whole, t)
        expected.append([g["lr"] for g in whole_opt.param_groups] + momenta(whole_opt))

    cut = 137
    first_opt = fastnn_opt(kind)
    first = make(F, first_opt)
    got = []
    for t in range(cut):
        stepper(first, t)
        got.append([g["lr"] for g in first_opt.param_groups] + momenta(first_opt))
    state = json.loads(json.dumps(first.state_dict()))  # plain data: fits a JSON / safetensors-metadata checkpoint
    resumed_opt = fastnn_opt(kind)  # a fresh optimizer: the scheduler's state alone restores the lr
    resumed = make(F, resumed_opt)
    resumed.load_state_dict(state)
    assert resumed.last_epoch == first.last_epoch
    assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in first_opt.param_groups]
    for t in range(cut, STEPS):
        stepper(resumed, t)
        got.append([g["lr"] for g in resumed_opt.param_groups] + momenta(resumed_opt))
    np.testing.assert_array_equal(np.array(got), np.array(expected))


# --------------------------------------------------------------------------- fit() integration


def test_fit_steps_any_scheduler_once_per_epoch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 4, 4)).astype(np.float32)
    y = (x.reshape(64, -1).sum(1) > 0).astype(np.int64)
    fastnn.manual_seed(0)
    model = fastnn.models.mlp(num_classes=2, in_features=16, hidden=8)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = F.LinearWarmup(opt, warmup_steps=2, after=F.CosineAnnealingLR(opt, T_max=3))
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=5, batch_size=16, progress=False,
                      scheduler=sched)
    assert hist["lr"] == [sched.lr_at(e) for e in range(5)]
    assert sched.last_epoch == 5


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_onecycle_per_batch_training_matches_pytorch(kind):
    """A custom loop stepping OneCycleLR per batch: the kernels use the cycled lr and momentum / beta1."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((24, 8, 1, 4, 4)).astype(np.float32)
    ys = rng.integers(0, 3, (24, 8))
    fastnn.manual_seed(0)
    fm = fastnn.models.mlp(num_classes=3, in_features=16, hidden=12)
    tm = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3))
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in fm.state_dict().items()})
    if kind == "sgd":
        fo = optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
        to = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    else:
        fo, to = optim.Adam(fm.parameters(), lr=0.01), torch.optim.Adam(tm.parameters(), lr=0.01)
    fs = F.OneCycleLR(fo, max_lr=0.3 if kind == "sgd" else 0.05, total_steps=len(xs))
    ts = T.OneCycleLR(to, max_lr=0.3 if kind == "sgd" else 0.05, total_steps=len(xs))
    loss_fn = nn.CrossEntropyLoss()
    for x, y in zip(xs, ys):
        fo.zero_grad()
        loss_fn(fm.forward(x, True), y)
        fm.backward(loss_fn.backward(), input_grad=False)
        fo.step()
        fs.step()
        to.zero_grad()
        torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        to.step()
        ts.step()
    assert momenta(fo) == momenta(to)
    for (k, a), b in zip(fm.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(a, b.numpy(), rtol=2e-4, atol=2e-5, err_msg=k)


# --------------------------------------------------------------------------- previews


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)  # makes `import matplotlib...` raise ImportError
    sched = F.CosineAnnealingLR(fastnn_opt(), T_max=10)
    with pytest.raises(ImportError, match=r"pip install fastnn\[plot\]"):
        sched.plot(tmp_path / "lr.png", 10)
    assert not (tmp_path / "lr.png").exists()


def test_plot_writes_a_png_and_leaves_the_state_alone(tmp_path):
    pytest.importorskip("matplotlib")
    opt = fastnn_opt()
    sched = F.OneCycleLR(opt, max_lr=1.0, total_steps=50)
    sched.step()
    before = (sched.state_dict(), [dict(g, params=None) for g in opt.param_groups])
    path = sched.plot(tmp_path / "onecycle.png", 50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (sched.state_dict(), [dict(g, params=None) for g in opt.param_groups]) == before
    path = F.lr_schedule("sgdr", 0.1, T_0=5, T_mult=2).plot(tmp_path / "sgdr.png", np.linspace(0, 35, 200))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path = F.plot_schedule(lambda t: 0.1 * 0.5 ** (t // 10), tmp_path / "fn.png", 40)
    assert path.stat().st_size > 1000


# --------------------------------------------------------------------------- validation


class _NoMomentum:
    def __init__(self):
        self.param_groups = [{"lr": 0.1}]
        self.defaults = {"lr": 0.1}


BAD = [
    (lambda o: F.CosineAnnealingWarmRestarts(o, T_0=0), "T_0"),
    (lambda o: F.CosineAnnealingWarmRestarts(o, T_0=2.5), "T_0"),
    (lambda o: F.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), "T_mult"),
    (lambda o: F.CosineAnnealingWarmRestarts(o, T_0=5, eta_min="0"), "eta_min"),
    (lambda o: F.StepLR(o, step_size=0), "step_size"),
    (lambda o: F.ExponentialLR(o, gamma=-0.5), "gamma"),
    (lambda o: F.LinearLR(o, start_factor=0.0), "start_factor"),
    (lambda o: F.LinearLR(o, start_factor=1.5), "start_factor"),
    (lambda o: F.LinearLR(o, end_factor=1.5), "end_factor"),
    (lambda o: F.LinearLR(o, total_iters=0), "total_iters"),
    (lambda o: F.PolynomialLR(o, total_iters=0), "total_iters"),
    (lambda o: F.CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: F.LinearDecay(o, tau=0), "tau"),
    (lambda o: F.LinearDecay(o, tau=10, final_lr=-0.1), "final_lr"),
    (lambda o: F.LinearDecay(o, tau=10, final_lr=[0.1, 0.1, 0.1]), "one value per param group"),
    (lambda o: F.LinearWarmup(o, warmup_steps=0), "warmup_steps"),
    (lambda o: F.OneCycleLR(o, max_lr=1.0), "total_steps"),
    (lambda o: F.OneCycleLR(o, max_lr=1.0, epochs=0, steps_per_epoch=3), "epochs"),
    (lambda o: F.OneCycleLR(o, max_lr=1.0, total_steps=100, pct_start=1.5), "pct_start"),
    (lambda o: F.OneCycleLR(o, max_lr=1.0, total_steps=100, anneal_strategy="exp"), "anneal_strategy"),
    (lambda o: F.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.1), "zero"),
    (lambda o: F.OneCycleLR(o, max_lr=[1.0], total_steps=10), "max_lr"),
    (lambda o: F.OneCycleLR(_NoMomentum(), max_lr=1.0, total_steps=10), "momentum"),
    (lambda o: F.ReduceLROnPlateau(o, mode="avg"), "mode"),
    (lambda o: F.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold mode"),
    (lambda o: F.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: F.ReduceLROnPlateau(o, patience=-1), "patience"),
    (lambda o: F.ReduceLROnPlateau(o, min_lr=[0.1]), "min_lr"),
    (lambda o: F.SequentialLR(o, [F.StepLR(o, 3), F.StepLR(o, 4)], milestones=[]), "milestone"),
    (lambda o: F.SequentialLR(o, [F.StepLR(o, 3), F.ReduceLROnPlateau(o)], milestones=[3]), "ReduceLROnPlateau"),
    (lambda o: F.SequentialLR(o, [F.StepLR(o, 3), F.StepLR(fastnn_opt(), 4)], milestones=[3]), "same optimizer"),
    (lambda o: F.SequentialLR(o, [], milestones=[]), "at least one"),
    (lambda o: F.ChainedScheduler([]), "at least one"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_arguments_raise_value_error(i):
    make, match = BAD[i]
    with pytest.raises(ValueError, match=match):
        make(fastnn_opt())


def test_not_an_optimizer_raises_type_error():
    with pytest.raises(TypeError, match="param_groups"):
        F.StepLR(object(), step_size=3)
    with pytest.raises(KeyError, match="initial_lr"):
        F.StepLR(fastnn_opt(), step_size=3, last_epoch=5)  # resuming needs the optimizer's initial_lr


def test_two_schedulers_share_the_initial_lr_and_resume_with_last_epoch():
    opt = fastnn_opt()
    F.ExponentialLR(opt, gamma=0.5)
    F.ExponentialLR(opt, gamma=0.5).step()
    assert [g["initial_lr"] for g in opt.param_groups] == list(LR)
    resumed = F.ExponentialLR(opt, gamma=0.5, last_epoch=3)  # PyTorch: the constructor's step makes it 4
    assert resumed.last_epoch == 4 and opt.param_groups[0]["lr"] == pytest.approx(LR[0] * 0.5 ** 4)
    assert math.isclose(resumed.get_last_lr()[1], LR[1] / 16)
