"""fastnn.optim.lr_scheduler: learning-rate schedules with PyTorch's names, arguments and sequences.

Usage is PyTorch's: build the scheduler on an optimizer (this sets every group's lr to the
schedule's step-0 value), call ``scheduler.step()`` once per epoch (or once per batch, for
OneCycleLR / warm-up measured in batches), read ``get_last_lr()``, checkpoint with
``state_dict()`` / ``load_state_dict()``; ``last_epoch`` counts the steps taken. ``fastnn.fit(...,
scheduler=s)`` steps ``s`` once per epoch; to step per batch, write the loop yourself::

    for xb, yb in batches:
        opt.zero_grad(); model.backward(loss_fn.backward()) ...; opt.step()
        scheduler.step()                  # per batch: OneCycleLR(..., total_steps=epochs * len(batches))

Every schedule except ReduceLROnPlateau is a pure function of the step count:

- ``scheduler.lr_at(step, group=0)`` is the lr of param group ``group`` at ``step``; it depends only on
  the constructor's arguments and the groups' initial lrs, never on the scheduler's state (it is
  what ``step()`` applies). OneCycleLR adds ``momentum_at(step, group=0)``.
- ``lr_schedule(name, lr=1.0, **kwargs)`` builds the same thing without an optimizer:
  ``lr_schedule("CosineAnnealingLR", 0.1, T_max=100)(t)``; ``name`` is a class name or an alias
  (``"cosine"``, ``"sgdr"``, ``"onecycle"``, ``"warmup"``, ... see SCHEDULERS). Nested schedules are
  given as ``(name, kwargs)``: ``lr_schedule("warmup", 0.1, warmup_steps=5, after=("cosine",
  {"T_max": 95}))``.
- ``scheduler.plot(path, steps)`` / ``plot_schedule(schedule, path, steps)`` write a PNG preview
  (needs matplotlib: ``pip install fastnn[plot]``).

Relation to PyTorch: the lr sequences equal torch.optim.lr_scheduler's (tests compare 300 steps of
each, to float64 rounding). PyTorch computes several schedules recursively from the group's current
lr ("chainable" form); fastnn always evaluates the closed form, so (1) an lr written into
``group["lr"]`` by hand is overwritten at the next ``step()`` instead of being carried along, and
(2) ChainedScheduler composes its schedules multiplicatively, ``lr = base * prod(f_i(t))`` with
``f_i = lr_i / base`` — equal to PyTorch's chaining for multiplicative schedules (Step, MultiStep,
Exponential, Linear, Polynomial, ConstantLR-like), different for additive ones (cosine with
``eta_min > 0``). ``load_state_dict`` also re-applies the restored step's lr (and OneCycle momentum)
to the optimizer, so a resumed scheduler continues exactly even if the optimizer's state was not
restored. CosineAnnealingWarmRestarts' fractional ``step(epoch)`` finds the cycle with an exact
integer search where PyTorch uses a float logarithm (PyTorch can land one cycle early at a restart
boundary when the logarithm rounds down; elsewhere the two agree). OneCycleLR refuses (ValueError) a
phase of zero length, where PyTorch divides by zero at the first step.
"""

from __future__ import annotations

import copy
import math
import numbers
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "PolynomialLR", "LinearDecay",
    "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "SequentialLR", "ChainedScheduler",
    "LinearWarmup", "ReduceLROnPlateau", "SCHEDULERS", "LRSchedule", "lr_schedule", "plot_schedule",
]


def _check_optimizer(optimizer: Any, who: str) -> None:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) and "lr" in g for g in groups):
        raise TypeError(f"{who}: expected an optimizer with param_groups (a list of dicts with 'lr'), got "
                        f"{type(optimizer).__name__}")


def _per_group(name: str, optimizer: Any, value: Any, who: str) -> list:
    """A scalar for every group, or a list/tuple with one value per group (PyTorch's _format_param)."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{who}: {name} must have one value per param group ({n}), got {len(value)}")
        return list(value)
    return [value] * n


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class LRScheduler:
    """Base class: a schedule ``lr_at(step, group)`` applied to the optimizer's param groups.

    Subclasses define ``lr_at``. Construction records each group's ``initial_lr`` (PyTorch's key; an
    existing one is kept, so several schedulers on one optimizer share the same base) and applies
    step 0. ``last_epoch`` is the number of ``step()`` calls (PyTorch's name); pass a value >= 0 to
    resume, which needs ``initial_lr`` in every group, as in PyTorch.
    """

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        elif not all("initial_lr" in g for g in optimizer.param_groups):
            raise KeyError(f"{type(self).__name__}: resuming with last_epoch={last_epoch} needs 'initial_lr' in "
                           f"every param group (load the optimizer's state_dict first)")
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = [g["lr"] for g in optimizer.param_groups]
        self.step()

    # --- the schedule ---------------------------------------------------------------------------
    def lr_at(self, step: float, group: int = 0) -> float:
        """The learning rate of param group ``group`` after ``step`` steps (a pure function)."""
        raise TypeError(f"{type(self).__name__} must define lr_at")

    def _apply(self) -> None:
        for i, g in enumerate(self.optimizer.param_groups):
            g["lr"] = self.lr_at(self.last_epoch, i)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _set_step(self, step: float) -> None:
        """Jump to ``step`` and apply its lr (used by SequentialLR / ChainedScheduler)."""
        self.last_epoch = step
        self._apply()

    def step(self, epoch: float | None = None) -> None:
        """Advance one step (or jump to ``epoch``, PyTorch's deprecated form) and set the groups' lr."""
        self._set_step(self.last_epoch + 1 if epoch is None else epoch)

    def get_last_lr(self) -> list[float]:
        """The lr of every group as set by the last ``step()`` (or construction)."""
        return list(self._last_lr)

    # --- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything but the optimizer (as PyTorch), deep-copied; plain Python values only."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` and re-apply that step's lr to the optimizer."""
        self.__dict__.update(copy.deepcopy({k: v for k, v in state.items() if k != "optimizer"}))
        self._apply()

    # --- preview --------------------------------------------------------------------------------
    def plot(self, path: str | Path, steps: int | Iterable[float] = 100, title: str | None = None) -> Path:
        """Write a PNG of the lr of every group over ``steps`` (an int n: steps 0..n) without touching
        the scheduler's state. Needs matplotlib (``pip install fastnn[plot]``)."""
        return plot_schedule(self, path, steps, title=title)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """lr = base * gamma ** (t // step_size) (PyTorch's StepLR)."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if not _is_int(step_size) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be an integer >= 1, got {step_size!r}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: float, group: int = 0) -> float:
        return self.base_lrs[group] * self.gamma ** (int(step) // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base * gamma ** (number of milestones <= t); a repeated milestone counts each time (PyTorch)."""

    def __init__(self, optimizer: Any, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: float, group: int = 0) -> float:
        return self.base_lrs[group] * self.gamma ** bisect_right(self.milestones, step)


class ExponentialLR(LRScheduler):
    """lr = base * gamma ** t."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        if not _is_real(gamma) or gamma <= 0:
            raise ValueError(f"ExponentialLR: gamma must be > 0, got {gamma!r}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: float, group: int = 0) -> float:
        return self.base_lrs[group] * self.gamma ** step


class LinearLR(LRScheduler):
    """lr = base * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters)."""

    def __init__(self, optimizer: Any, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("LinearLR: start_factor expected to be greater than 0 and less or equal to 1, got "
                             f"{start_factor}")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"LinearLR: end_factor expected to be between 0 and 1, got {end_factor}")
        if not _is_int(total_iters) or total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be an integer >= 1, got {total_iters!r}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: float, group: int = 0) -> float:
        s, e = self.start_factor, self.end_factor
        return self.base_lrs[group] * (s + (e - s) * min(self.total_iters, step) / self.total_iters)


class PolynomialLR(LRScheduler):
    """lr = base * (1 - min(t, total_iters) / total_iters) ** power."""

    def __init__(self, optimizer: Any, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        if not _is_int(total_iters) or total_iters < 1:
            raise ValueError(f"PolynomialLR: total_iters must be an integer >= 1, got {total_iters!r}")
        self.total_iters, self.power = int(total_iters), power
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: float, group: int = 0) -> float:
        return self.base_lrs[group] * (1.0 - min(self.total_iters, step) / self.total_iters) ** self.power


class LinearDecay(LRScheduler):
    """The textbook linear decay (Goodfellow et al., Deep Learning, §8.3.1):
    ``eps_k = (1 - k/tau) eps_0 + (k/tau) eps_tau`` for k <= tau, then ``eps_tau`` (``final_lr``,
    one value or one per group; typically ~1% of eps_0).

    Where it coincides with PyTorch: ``LinearLR(start_factor=1, end_factor=final_lr/lr,
    total_iters=tau)`` when ``0 <= final_lr <= lr``, and ``PolynomialLR(total_iters=tau, power=1)``
    when ``final_lr == 0`` (same values up to float rounding). LinearDecay also allows
    ``final_lr > lr`` (a linear increase), which LinearLR's factor range excludes.
    """

    def __init__(self, optimizer: Any, tau: int, final_lr: float | Sequence[float] = 0.0,
                 last_epoch: int = -1) -> None:
        if not _is_int(tau) or tau < 1:
            raise ValueError(f"LinearDecay: tau must be an integer >= 1, got {tau!r}")
        _check_optimizer(optimizer, "LinearDecay")
        self.final_lrs = [float(v) for v in _per_group("final_lr", optimizer, final_lr, "LinearDecay")]
        if any(not math.isfinite(v) or v < 0 for v in self.final_lrs):
            raise ValueError(f"LinearDecay: final_lr must be finite and >= 0, got {final_lr!r}")
        self.tau = int(tau)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: float, group: int = 0) -> float:
        if step >= self.tau:
            return self.final_lrs[group]
        alpha = step / self.tau
        return (1.0 - alpha) * self.base_lrs[group] + alpha * self.final_lrs[group]


class CosineAnnealingLR(LRScheduler):
    """lr_t = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2 (PyTorch's closed form; past
    T_max it rises again along the same cosine, as PyTorch's does)."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803
        if not _is_real(T_max) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: float, group: int = 0) -> float:
        base = self.base_lrs[group]
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter): cosine from base to eta_min over T_i epochs, then restart with
    T_i *= T_mult; T_0 is the first period. ``step()`` advances one epoch; ``step(epoch)`` accepts
    fractional epochs (``step(epoch + i / iters_per_epoch)`` inside an epoch), as in PyTorch.
    ``T_cur`` and ``T_i`` are kept as attributes, as in PyTorch."""

    def __init__(self, optimizer: Any, T_0: int, T_mult: int = 1, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        if not _is_int(T_0) or T_0 < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected positive integer T_0, but got {T_0!r}")
        if not _is_int(T_mult) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected integer T_mult >= 1, but got {T_mult!r}")
        if not _is_real(eta_min):
            raise ValueError(f"CosineAnnealingWarmRestarts: expected float or int eta_min, but got {eta_min!r}")
        self.T_0, self.T_i, self.T_mult, self.eta_min = int(T_0), int(T_0), int(T_mult), eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def _cycle(self, epoch: float) -> tuple[float, int]:
        """(T_cur, T_i) at ``epoch``: the cycle found by exact integer search (no float logarithm)."""
        if epoch < self.T_0:
            return epoch, self.T_0
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        m = self.T_mult
        n = int(math.log(epoch / self.T_0 * (m - 1) + 1, m))  # a first guess, corrected below
        while n > 0 and epoch < self.T_0 * (m ** n - 1) / (m - 1):
            n -= 1
        while epoch >= self.T_0 * (m ** (n + 1) - 1) / (m - 1):
            n += 1
        return epoch - self.T_0 * (m ** n - 1) / (m - 1), self.T_0 * m ** n

    def _lr(self, t_cur: float, t_i: float, group: int) -> float:
        base = self.base_lrs[group]
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    def lr_at(self, step: float, group: int = 0) -> float:
        if step < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected non-negative epoch, but got {step}")
        return self._lr(*self._cycle(step), group)

    def _apply(self) -> None:
        for i, g in enumerate(self.optimizer.param_groups):
            g["lr"] = self._lr(self.T_cur, self.T_i, i)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _set_step(self, step: float) -> None:
        if step < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected non-negative epoch, but got {step}")
        self.T_cur, self.T_i = self._cycle(step)
        self.last_epoch = math.floor(step)
        self._apply()

    def step(self, epoch: float | None = None) -> None:
        """One epoch further (PyTorch's incremental T_cur), or jump to the (fractional) ``epoch``."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is not None:
            self._set_step(epoch)
            return
        self.last_epoch += 1
        self.T_cur = self.T_cur + 1
        if self.T_cur >= self.T_i:
            self.T_cur = self.T_cur % self.T_i
            self.T_i = self.T_i * self.T_mult
        self._apply()


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), PyTorch's OneCycleLR: lr warms from max_lr/div_factor to
    max_lr over pct_start of ``total_steps`` (or epochs * steps_per_epoch), then anneals ('cos' or
    'linear') to initial_lr/final_div_factor; ``three_phase`` comes back to initial_lr first. With
    ``cycle_momentum`` the momentum (SGD) or beta1 (Adam-like: optimizers with ``betas``) moves
    inversely between max_momentum and base_momentum. Meant to be stepped once per batch; stepping
    past ``total_steps`` raises ValueError, as in PyTorch."""

    def __init__(self, optimizer: Any, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "OneCycleLR")
        if total_steps is not None:
            if not _is_int(total_steps) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: expected positive integer total_steps, but got {total_steps!r}")
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            if not _is_int(epochs) or epochs <= 0:
                raise ValueError(f"OneCycleLR: expected positive integer epochs, but got {epochs!r}")
            if not _is_int(steps_per_epoch) or steps_per_epoch <= 0:
                raise ValueError(f"OneCycleLR: expected positive integer steps_per_epoch, but got {steps_per_epoch!r}")
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError("OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)")
        if not _is_real(pct_start) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: expected float between 0 and 1 pct_start, but got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy!r}")
        if div_factor <= 0 or final_div_factor <= 0:
            raise ValueError(f"OneCycleLR: div_factor and final_div_factor must be > 0, got {div_factor}, "
                             f"{final_div_factor}")
        n = self.total_steps
        if three_phase:
            self._phases = [
                (float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._phases = [
                (float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        start = 0.0
        for end, *_ in self._phases:
            if end == start:
                raise ValueError(f"OneCycleLR: pct_start={pct_start} with total_steps={n} gives a phase of zero "
                                 f"length (PyTorch would divide by zero); change pct_start or total_steps")
            start = end
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        max_lrs = _per_group("max_lr", optimizer, max_lr, "OneCycleLR")
        groups = optimizer.param_groups
        if last_epoch == -1:
            for g, m in zip(groups, max_lrs):
                g["initial_lr"] = m / div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            defaults = getattr(optimizer, "defaults", {})
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError("OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` "
                                 "option enabled")
            self.use_beta1 = "betas" in defaults
            if last_epoch == -1:
                maxs = _per_group("max_momentum", optimizer, max_momentum, "OneCycleLR")
                bases = _per_group("base_momentum", optimizer, base_momentum, "OneCycleLR")
                for g, mm, bm in zip(groups, maxs, bases):
                    self._set_momentum(g, mm)
                    g["max_momentum"], g["base_momentum"] = mm, bm
        # the schedule's constants, kept here so that lr_at is a pure function of the step
        self._values = [{k: g[k] for k in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
                         if k in g} for g in groups]
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, step: float, group: int, momentum: bool) -> float:
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times. The specified number of total steps is "
                             f"{self.total_steps}")
        values = self._values[group]
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
            if step <= end or i == len(self._phases) - 1:
                pct = (step - start) / (end - start)
                a, b = (m0, m1) if momentum else (lr0, lr1)
                return self._anneal(values[a], values[b], pct)
            start = end
        raise AssertionError("unreachable")

    def lr_at(self, step: float, group: int = 0) -> float:
        return self._at(step, group, momentum=False)

    def momentum_at(self, step: float, group: int = 0) -> float:
        """The momentum (or beta1) of group ``group`` at ``step`` (needs cycle_momentum=True)."""
        if not self.cycle_momentum:
            raise ValueError("OneCycleLR: momentum_at needs cycle_momentum=True")
        return self._at(step, group, momentum=True)

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *tuple(group["betas"])[1:])
        else:
            group["momentum"] = value

    def _apply(self) -> None:
        super()._apply()
        if self.cycle_momentum:
            for i, g in enumerate(self.optimizer.param_groups):
                self._set_momentum(g, self.momentum_at(self.last_epoch, i))


def _check_children(optimizer: Any, schedulers: Sequence[LRScheduler], who: str) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{who} expects at least one scheduler, but got no scheduler.")
    for i, s in enumerate(schedulers):
        if not isinstance(s, LRScheduler) or not hasattr(s, "optimizer"):
            raise TypeError(f"{who}: scheduler at index {i} is {type(s).__name__}, not an LRScheduler")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{who} does not support ReduceLROnPlateau (its step needs a metric), but got one at "
                             f"index {i}")
        if s.optimizer is not optimizer:
            raise ValueError(f"{who} expects all schedulers to belong to the same optimizer, but the scheduler "
                             f"{type(s).__name__} at index {i} has another one")


class SequentialLR(LRScheduler):
    """Runs ``schedulers[i]`` from milestone ``milestones[i-1]`` on, each restarted at its own step 0
    (PyTorch's SequentialLR): at step t the lr is ``schedulers[i].lr_at(t - milestones[i-1])``."""

    def __init__(self, optimizer: Any, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "SequentialLR")
        _check_children(optimizer, schedulers, "SequentialLR")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR expects one milestone fewer than schedulers, but got {len(schedulers)} "
                             f"schedulers and {len(milestones)} milestones")
        if any(not _is_int(m) or m < 0 for m in milestones) or list(milestones) != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be non-negative increasing integers, got {milestones!r}")
        self._schedulers = list(schedulers)
        self._milestones = [int(m) for m in milestones]
        super().__init__(optimizer, last_epoch)

    def _locate(self, step: float) -> tuple[LRScheduler, float]:
        idx = bisect_right(self._milestones, step)
        return self._schedulers[idx], step - (self._milestones[idx - 1] if idx > 0 else 0)

    def lr_at(self, step: float, group: int = 0) -> float:
        child, local = self._locate(step)
        return child.lr_at(local, group)

    def _set_step(self, step: float) -> None:
        self.last_epoch = step
        child, local = self._locate(step)
        child._set_step(local)
        self._last_lr = child.get_last_lr()

    def _apply(self) -> None:
        self._set_step(self.last_epoch)

    def state_dict(self) -> dict:
        state = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state: dict) -> None:
        children = state["_schedulers"]
        if len(children) != len(self._schedulers):
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected {len(self._schedulers)} scheduler "
                             f"states, got {len(children)}")
        for s, sd in zip(self._schedulers, children):
            s.load_state_dict(sd)
        self.__dict__.update(copy.deepcopy({k: v for k, v in state.items() if k not in ("optimizer", "_schedulers")}))
        self._apply()


class LinearWarmup(SequentialLR):
    """Linear warm-up ("burn-in") composed with any schedule: for t < warmup_steps,
    ``lr = base * (start_factor + (1 - start_factor) * t / warmup_steps)``, then ``after`` runs from its
    own step 0 (constant ``base`` when ``after`` is None). The default start_factor
    ``1 / (warmup_steps + 1)`` gives ``base * (t + 1) / (warmup_steps + 1)``: no step at lr 0.

    Equal to ``SequentialLR(opt, [LinearLR(opt, start_factor, 1.0, warmup_steps), after],
    milestones=[warmup_steps])`` — which is what it is. Counts steps: warm up over epochs with fit(),
    or over batches in a loop that calls ``step()`` per batch.
    """

    def __init__(self, optimizer: Any, warmup_steps: int, after: LRScheduler | None = None,
                 start_factor: float | None = None, last_epoch: int = -1) -> None:
        if not _is_int(warmup_steps) or warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be an integer >= 1, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)
        self.start_factor = 1.0 / (warmup_steps + 1) if start_factor is None else start_factor
        _check_optimizer(optimizer, "LinearWarmup")
        warm = LinearLR(optimizer, start_factor=self.start_factor, end_factor=1.0, total_iters=self.warmup_steps)
        children, milestones = ([warm, after], [self.warmup_steps]) if after is not None else ([warm], [])
        super().__init__(optimizer, children, milestones, last_epoch)


class ChainedScheduler(LRScheduler):
    """Applies several schedules at once, multiplicatively: ``lr = base * prod_i(lr_i(t) / base)``.
    Equal to PyTorch's ChainedScheduler for multiplicative schedules (StepLR, MultiStepLR,
    ExponentialLR, LinearLR, PolynomialLR, LinearDecay with final_lr=0 ...); see the module note."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Any | None = None) -> None:
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer if optimizer is not None else getattr(schedulers[0], "optimizer", None)
        _check_optimizer(optimizer, "ChainedScheduler")
        _check_children(optimizer, schedulers, "ChainedScheduler")
        self._schedulers = list(schedulers)
        super().__init__(optimizer, -1)

    def lr_at(self, step: float, group: int = 0) -> float:
        base = self.base_lrs[group]
        lr = self._schedulers[0].lr_at(step, group)
        for s in self._schedulers[1:]:
            lr = lr * (s.lr_at(step, group) / base) if base != 0 else 0.0
        return lr

    def _set_step(self, step: float) -> None:
        for s in self._schedulers:
            s._set_step(step)  # keeps each child's own state (last_epoch, SGDR's T_cur ...) in step
        super()._set_step(step)  # then the product overwrites the children's lrs

    state_dict = SequentialLR.state_dict
    load_state_dict = SequentialLR.load_state_dict


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` once the monitored metric has not improved for more than
    ``patience`` steps (PyTorch's ReduceLROnPlateau, same arguments): ``step(metric)``, e.g. once per
    epoch with the validation loss. Not a function of the step alone: no ``lr_at``. fit() steps its
    scheduler without a metric, so drive this one from your own loop."""

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:
        _check_optimizer(optimizer, "ReduceLROnPlateau")
        if not _is_real(factor) or factor >= 1.0 or factor < 0:
            raise ValueError(f"ReduceLROnPlateau: factor should be in [0, 1), got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown! Use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is unknown! Use 'rel' or 'abs'")
        if not _is_int(patience) or patience < 0 or not _is_int(cooldown) or cooldown < 0:
            raise ValueError(f"ReduceLROnPlateau: patience and cooldown must be integers >= 0, got {patience!r}, "
                             f"{cooldown!r}")
        self.optimizer = optimizer
        self.factor, self.patience, self.cooldown, self.eps = factor, int(patience), int(cooldown), eps
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.min_lrs = [float(v) for v in _per_group("min_lr", optimizer, min_lr, "ReduceLROnPlateau")]
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def lr_at(self, step: float, group: int = 0) -> float:
        raise TypeError("ReduceLROnPlateau depends on the monitored metric, not on the step alone: it has no lr_at")

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: float | None = None, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one value of the monitored metric; reduce the lr after ``patience`` bad steps."""
        if metrics is None:
            raise TypeError("ReduceLROnPlateau.step needs the monitored metric, e.g. scheduler.step(val_loss); "
                            "fastnn.fit steps schedulers without one, so call it from your own loop")
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for i, g in enumerate(self.optimizer.param_groups):
                old = float(g["lr"])
                new = max(old * self.factor, self.min_lrs[i])
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _apply(self) -> None:
        for g, lr in zip(self.optimizer.param_groups, self._last_lr):
            g["lr"] = lr

    def plot(self, path, steps=100, title=None) -> Path:
        raise TypeError("ReduceLROnPlateau depends on the monitored metric: there is no schedule to plot")


# --- pure functions and previews -----------------------------------------------------------------

SCHEDULERS: dict[str, type[LRScheduler]] = {cls.__name__: cls for cls in (
    StepLR, MultiStepLR, ExponentialLR, LinearLR, PolynomialLR, LinearDecay, CosineAnnealingLR,
    CosineAnnealingWarmRestarts, OneCycleLR, SequentialLR, ChainedScheduler, LinearWarmup)}
SCHEDULERS.update({
    "step": StepLR, "multistep": MultiStepLR, "exponential": ExponentialLR, "linear": LinearLR,
    "polynomial": PolynomialLR, "linear_decay": LinearDecay, "cosine": CosineAnnealingLR,
    "sgdr": CosineAnnealingWarmRestarts, "cosine_warm_restarts": CosineAnnealingWarmRestarts,
    "onecycle": OneCycleLR, "one_cycle": OneCycleLR, "sequential": SequentialLR, "chained": ChainedScheduler,
    "warmup": LinearWarmup, "linear_warmup": LinearWarmup,
})


class _Probe:
    """A stand-in optimizer (one param group) for schedules used as pure functions."""

    def __init__(self, lr: float) -> None:
        self.defaults = {"lr": lr, "momentum": 0.0}
        self.param_groups = [dict(self.defaults)]


def _lookup(name: str | type[LRScheduler]) -> type[LRScheduler]:
    if isinstance(name, type) and issubclass(name, LRScheduler):
        cls = name
    elif str(name).lower() in ("reducelronplateau", "plateau"):
        cls = ReduceLROnPlateau
    else:
        cls = SCHEDULERS.get(name) or SCHEDULERS.get(str(name).lower())
    if cls is ReduceLROnPlateau:
        raise ValueError("ReduceLROnPlateau depends on the monitored metric, not on the step: it has no lr(step)")
    if cls is None:
        raise ValueError(f"unknown schedule {name!r}; known: {sorted(SCHEDULERS)}")
    return cls


def _build(name: str | type[LRScheduler], probe: _Probe, kwargs: dict) -> LRScheduler:
    cls = _lookup(name)
    kwargs = dict(kwargs)
    for key in ("after",):
        if isinstance(kwargs.get(key), tuple):
            kwargs[key] = _build(kwargs[key][0], probe, kwargs[key][1] if len(kwargs[key]) > 1 else {})
    if "schedulers" in kwargs:
        kwargs["schedulers"] = [s if isinstance(s, LRScheduler) else _build(s[0], probe, s[1] if len(s) > 1 else {})
                                for s in kwargs["schedulers"]]
    if cls is ChainedScheduler:
        return cls(kwargs.pop("schedulers"), probe, **kwargs)
    return cls(probe, **kwargs)


class LRSchedule:
    """A schedule as a pure function: ``schedule(step) -> lr`` (see ``lr_schedule``)."""

    def __init__(self, scheduler: LRScheduler) -> None:
        self.scheduler = scheduler

    def __call__(self, step: float) -> float:
        return self.scheduler.lr_at(step, 0)

    def momentum(self, step: float) -> float:
        """OneCycleLR's momentum at ``step``."""
        if not isinstance(self.scheduler, OneCycleLR):
            raise TypeError(f"{type(self.scheduler).__name__} does not schedule the momentum")
        return self.scheduler.momentum_at(step, 0)

    def plot(self, path: str | Path, steps: int | Iterable[float] = 100, title: str | None = None) -> Path:
        return plot_schedule(self, path, steps, title=title)

    def __repr__(self) -> str:
        return f"LRSchedule({type(self.scheduler).__name__})"


def lr_schedule(name: str | type[LRScheduler], lr: float = 1.0, **kwargs: Any) -> LRSchedule:
    """The schedule ``name`` (a class name, a class or an alias in SCHEDULERS) with base ``lr`` as a pure
    function of the step: ``lr_schedule("StepLR", 0.1, step_size=30)(45) == 0.01``. With the default
    ``lr=1.0`` it returns the multiplier. Nested schedules (``after=`` of LinearWarmup,
    ``schedulers=`` of SequentialLR / ChainedScheduler) are given as ``(name, kwargs)`` tuples."""
    return LRSchedule(_build(name, _Probe(lr), kwargs))


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plotting a learning-rate schedule needs matplotlib: pip install fastnn[plot] "
                          "(or pip install matplotlib)") from e
    return Figure, FigureCanvasAgg


def plot_schedule(schedule: LRScheduler | LRSchedule | Callable[[float], float], path: str | Path,
                  steps: int | Iterable[float] = 100, title: str | None = None) -> Path:
    """Write a PNG preview of ``schedule`` (a scheduler: every param group; an LRSchedule or any
    ``step -> lr`` function) over ``steps`` (int n: steps 0..n, or the step values) to ``path``.
    OneCycleLR's momentum is drawn on a second axis. Uses matplotlib's Agg canvas directly (no pyplot,
    no global backend change); raises ImportError naming ``pip install fastnn[plot]`` without it."""
    if isinstance(schedule, ReduceLROnPlateau):
        raise TypeError("ReduceLROnPlateau depends on the monitored metric: there is no schedule to plot")
    xs = list(range(steps + 1)) if _is_int(steps) else [float(s) for s in steps]
    if not xs:
        raise ValueError("plot_schedule: no steps to plot")
    if isinstance(schedule, LRSchedule):
        sched, groups = schedule.scheduler, [0]
    elif isinstance(schedule, LRScheduler):
        sched, groups = schedule, list(range(len(schedule.base_lrs)))
    elif callable(schedule):
        sched, groups = None, [0]
    else:
        raise TypeError(f"plot_schedule: expected a scheduler or a function of the step, got {type(schedule).__name__}")
    figure_cls, canvas_cls = _matplotlib()
    fig = figure_cls(figsize=(7, 4), dpi=100)
    canvas_cls(fig)
    ax = fig.add_subplot(1, 1, 1)
    for g in groups:
        ys = [sched.lr_at(x, g) if sched is not None else schedule(x) for x in xs]
        ax.plot(xs, ys, label=f"lr (group {g})" if len(groups) > 1 else "lr")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    name = type(sched).__name__ if sched is not None else getattr(schedule, "__name__", "schedule")
    ax.set_title(title or name)
    if isinstance(sched, OneCycleLR) and sched.cycle_momentum:
        ax2 = ax.twinx()
        ax2.plot(xs, [sched.momentum_at(x, 0) for x in xs], "--", color="gray", label="momentum")
        ax2.set_ylabel("momentum / beta1")
    if len(groups) > 1:
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
