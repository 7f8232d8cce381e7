"""The "explore in factors of 3" learning-rate search (``fastnn lr-sweep``).

Goodfellow et al. (Deep Learning, §11.4.1) advise searching the learning rate on a logarithmic grid.
``lr_sweep`` trains the same model, from the same initial weights and with the same batch order, for a
short run at each rate ``base_lr * factor`` (default factors 1/9, 1/3, 1, 3, 9), and reports the final
train loss, validation loss and accuracy of each run and whether it diverged. A run diverged when its
loss became NaN/Inf (``fastnn.TrainingDivergedError``) or its final train loss is above the loss of the
initial weights on the same training data (training made things worse). The chosen rate has the best
validation loss among the runs that did not diverge; ties go to the larger rate.

    from fastnn.lr_sweep import lr_sweep
    result = lr_sweep("mlp", "sgd", base_lr=0.03, epochs=1, subset=1000)
    print(result.table()); result.chosen_lr
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fastnn.backend import assign, to_numpy

DEFAULT_FACTORS: tuple[Fraction, ...] = (Fraction(1, 9), Fraction(1, 3), Fraction(1), Fraction(3), Fraction(9))


@dataclass
class SweepRun:
    """One short training run of the sweep."""

    factor: float
    lr: float
    train_loss: float
    val_loss: float
    val_accuracy: float
    diverged: bool
    note: str = ""


@dataclass
class SweepResult:
    """All runs (in factor order), the chosen one (None when every run diverged) and the setup."""

    runs: list[SweepRun]
    chosen: SweepRun | None
    base_lr: float
    initial_loss: float
    setup: dict = field(default_factory=dict)

    @property
    def chosen_lr(self) -> float | None:
        return None if self.chosen is None else self.chosen.lr

    @property
    def at_edge(self) -> bool:
        """The chosen rate is the smallest or the largest one tried: the grid should be widened."""
        lrs = [r.lr for r in self.runs]
        return self.chosen is not None and len(lrs) > 1 and self.chosen.lr in (min(lrs), max(lrs))

    def table(self) -> str:
        """The runs as an aligned text table, the chosen one marked with '*'."""
        rows = [("", "factor", "lr", "train loss", "val loss", "val acc", "diverged")]
        for r in self.runs:
            rows.append(("*" if r is self.chosen else "", format_factor(r.factor), f"{r.lr:.4g}", _num(r.train_loss),
                         _num(r.val_loss), "-" if math.isnan(r.val_accuracy) else f"{r.val_accuracy:.1%}",
                         ("yes" + (f" ({r.note})" if r.note else "")) if r.diverged else "no"))
        widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
        lines = []
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [row[c].rjust(widths[c]) for c in range(1, len(row) - 1)]
            lines.append("  ".join(cells + [row[-1].ljust(widths[-1])]).rstrip())
        return "\n".join(lines)

    def summary(self) -> str:
        if self.chosen is None:
            return (f"every rate diverged (the initial loss was {self.initial_loss:.4f}): try a smaller base "
                    f"learning rate than {self.base_lr:g}")
        text = (f"chosen lr: {self.chosen.lr:.4g} (factor {format_factor(self.chosen.factor)} x {self.base_lr:g}): "
                f"best val loss {self.chosen.val_loss:.4f} among the runs that did not diverge")
        if self.at_edge:
            text += "; it is at the edge of the grid, so a rate beyond it may be better: widen the factors"
        return text


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else "inf"
    return f"{x:.4f}" if abs(x) < 1e4 else f"{x:.3g}"


def format_factor(f: float) -> str:
    """1/9, 1/3, 1, 3, 9 ... as fractions when they are simple ones, else %g."""
    fr = Fraction(f).limit_denominator(1000)
    if abs(float(fr) - f) <= 1e-12 * max(1.0, abs(f)):
        return str(fr)
    return f"{f:g}"


def parse_factors(text: str) -> list[Fraction | float]:
    """'1/9,1/3,1,3,9' -> the factors (fractions or decimals), each > 0; ValueError otherwise."""
    out: list[Fraction | float] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = Fraction(part) if "/" in part else float(part)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"--factors: cannot read {part!r} as a number or a fraction like 1/3") from None
        if not (math.isfinite(float(value)) and value > 0):
            raise ValueError(f"--factors: factors must be finite and > 0, got {part!r}")
        out.append(value)
    if not out:
        raise ValueError("--factors: expected at least one factor, e.g. 1/9,1/3,1,3,9")
    return out


def optimizer_classes() -> dict[str, type]:
    """Every optimizer class of ``fastnn.optim`` by lower-case name ("sgd", "adam", ...)."""
    from fastnn import optim

    return {k.lower(): v for k, v in vars(optim).items()
            if isinstance(v, type) and issubclass(v, optim.Optimizer) and v is not optim.Optimizer}


def make_optimizer(name: str | Callable, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """An optimizer by name: "sgd" (with ``momentum``), "adam", or any other class of ``fastnn.optim``
    by its (case-insensitive) name; a callable ``(params, lr) -> optimizer`` is called as is."""
    from fastnn import optim

    if callable(name):
        return name(params, lr)
    classes = optimizer_classes()
    cls = classes.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(sorted(classes))}")
    if cls is optim.SGD:
        return cls(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return cls(params, lr=lr, weight_decay=weight_decay)


def choose(runs: Sequence[SweepRun]) -> SweepRun | None:
    """The run with the best (lowest) validation loss among those that did not diverge; ties (equal to
    1e-12 relative) go to the larger learning rate; None when every run diverged."""
    ok = [r for r in runs if not r.diverged and math.isfinite(r.val_loss)]
    if not ok:
        return None
    best = min(r.val_loss for r in ok)
    ties = [r for r in ok if r.val_loss <= best + 1e-12 * max(1.0, abs(best))]
    return max(ties, key=lambda r: r.lr)


def _bundled_data(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from fastnn.data import load_bundled_mnist, train_val_test

    return train_val_test(*load_bundled_mnist(), seed=seed)


def lr_sweep(model: str | Callable = "mlp", optimizer: str | Callable = "sgd", base_lr: float = 0.01,
             factors: Sequence[float] = DEFAULT_FACTORS, epochs: int = 1, subset: int | None = 1000,
             val_subset: int | None = 1000, batch_size: int = 32, seed: int = 0, momentum: float = 0.9,
             weight_decay: float = 0.0, data: dict | None = None, progress: bool = False,
             on_run: Callable[[SweepRun], None] | None = None) -> SweepResult:
    """Short runs at ``base_lr * f`` for each ``f`` in ``factors``, all from the same initial weights and
    batch order; returns a SweepResult (``.table()``, ``.chosen_lr``).

    ``model``: a name in ``fastnn.models.MODELS`` ("lenet5", "mlp") or a builder returning a Sequential
    (built once, after ``fastnn.manual_seed(seed)``). ``optimizer``: see ``make_optimizer``. ``data``:
    ``{"train": (x, y), "val": (x, y)}``; default the bundled MNIST digits split 70/20/10 by ``seed``.
    ``subset`` / ``val_subset`` keep the first n training / validation samples (None: all). ``on_run`` is
    called with each finished run (the CLI prints progress with it).
    """
    import fastnn
    from fastnn import models, nn

    if not (isinstance(base_lr, (int, float)) and math.isfinite(base_lr) and base_lr > 0):
        raise ValueError(f"lr_sweep: base_lr must be finite and > 0, got {base_lr!r}")
    factors = list(factors)
    if not factors or any(not (math.isfinite(float(f)) and f > 0) for f in factors):
        raise ValueError(f"lr_sweep: factors must be a non-empty list of finite values > 0, got {factors!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"lr_sweep: epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    for name, n in (("subset", subset), ("val_subset", val_subset)):
        if n is not None and n < 1:
            raise ValueError(f"lr_sweep: {name} must be >= 1 or None, got {n}")
    if isinstance(model, str):
        if model not in models.MODELS:
            raise ValueError(f"lr_sweep: unknown model {model!r}; known: {', '.join(sorted(models.MODELS))}")
        builder = models.MODELS[model]
    else:
        builder = model
    data = data if data is not None else _bundled_data(seed)
    x, y = data["train"]
    vx, vy = data["val"]
    x, y = (x[:subset], y[:subset]) if subset is not None else (x, y)
    vx, vy = (vx[:val_subset], vy[:val_subset]) if val_subset is not None else (vx, vy)

    fastnn.manual_seed(seed)
    net = builder()
    initial = to_numpy(net.flat.data)
    loss_fn = nn.CrossEntropyLoss()
    initial_loss = fastnn.evaluate(net, loss_fn, (x, y))["loss"]
    runs: list[SweepRun] = []
    for f in factors:
        lr = base_lr * float(f)
        assign(net.flat.data, initial)
        opt = make_optimizer(optimizer, net.parameters(), lr, momentum, weight_decay)
        try:
            hist = fastnn.fit(net, loss_fn, opt, (x, y), val=(vx, vy), epochs=epochs, batch_size=batch_size,
                              seed=seed, progress=progress)
        except fastnn.TrainingDivergedError:
            run = SweepRun(float(f), lr, math.nan, math.nan, math.nan, True, "loss became NaN/Inf")
        else:
            train_loss, val_loss = hist["loss"][-1], hist["val_loss"][-1]
            worse = not (math.isfinite(train_loss) and math.isfinite(val_loss)) or train_loss > initial_loss
            run = SweepRun(float(f), lr, train_loss, val_loss, hist["val_accuracy"][-1], worse,
                           "loss above the initial loss" if worse else "")
        runs.append(run)
        if on_run is not None:
            on_run(run)
    assign(net.flat.data, initial)
    chosen = choose(runs)
    setup = {"model": model if isinstance(model, str) else getattr(model, "__name__", "model"),
             "optimizer": optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "optimizer"),
             "epochs": epochs, "train_samples": len(y), "val_samples": len(vy), "batch_size": batch_size,
             "seed": seed}
    return SweepResult(runs, chosen, float(base_lr), float(initial_loss), setup)
