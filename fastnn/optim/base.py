"""The optimizer base: PyTorch-style param groups compiled into a segment table over the flat buffer.

A model's parameters live in one flat float32 buffer (DESIGN §3). Each param group becomes one or
more [start, end) segments of that buffer carrying the group's ``lr``, ``weight_decay`` (L2) and
``l1`` (L1 penalty, ``g += l1 * sign(p)``). A group with ``frozen=True`` is left out of the table:
the kernel never reads or writes it (its state buffers keep their values). ``lr = 0`` is NOT
frozen: as in PyTorch the state (momentum, moments) still advances with lr 0.

One ``step()`` = ONE fused kernel launch over the whole table (``kernels.cpu.optim``); the host
only computes float64 scalars (bias corrections, ...). The table is rebuilt (and every group
re-validated) only when a group setting changes, e.g. when a scheduler writes ``group["lr"]``;
otherwise a step costs one tuple comparison plus the kernel call. Tables covering at least
``parallel_min`` parameters use the ``*_parallel`` (prange) variant of the kernel: elementwise,
so its results are bitwise those of the serial kernel.

Settings other than lr / weight_decay / l1 / frozen (betas, momentum, eps, ...) must be equal in
every group (``shared_keys``); a group that differs raises ValueError. State lives in flat
buffers of the size of the whole model buffer (``self.state``); ``state_dict()`` /
``load_state_dict()`` copy them, the step count, scalar state and the groups, so a resumed run
continues bitwise identically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from fastnn.backend import Backend, assign, to_numpy
from fastnn.params import FlatParams, Parameter

# Covered parameters from which a step uses the prange kernel (``Optimizer.parallel_min``). Measured on
# the 2-core dev machine with the second core idle (serial / prange time of one step): Adam 0.75 at 262k,
# 1.05-1.14 at 524k, 1.56 at 1M, 1.2-1.4 at 2M-10M; SGD-momentum (no sqrt/div, cheaper per element)
# 0.81 at 524k, 0.92 at 1M, 1.33 at 2M, 1.14 at 10M. Hence 2^19 for the adaptive rules and 2^21 for SGD
# and the clipping kernels (``PARALLEL_MIN_LIGHT``). With another process on the second core prange
# loses ~10%: set ``optimizer.parallel_min`` higher to opt out.
PARALLEL_MIN = 1 << 19
PARALLEL_MIN_LIGHT = 1 << 21


class Optimizer:
    """Base: param groups, the segment table, kernel choice, zero_grad, state_dict."""

    segment_keys: tuple[str, ...] = ("lr", "weight_decay", "l1")  # per-segment float64 columns
    shared_keys: tuple[str, ...] = ()  # must be equal in every group
    state_names: tuple[str, ...] = ()  # flat state buffers (empty until a step needs them; see _buffer)
    parallel_min: int = PARALLEL_MIN  # covered parameters from which the prange kernel runs

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict,
                 backend: Backend | None = None) -> None:
        params = list(params)
        name = type(self).__name__
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        self.defaults = {**defaults, "l1": defaults.get("l1", 0.0), "frozen": defaults.get("frozen", False)}
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        for g in groups:
            group = {**self.defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise TypeError(f"{name}: expected fastnn Parameters, got {type(p).__name__}")
            self.param_groups.append(group)
        everything = [p for g in self.param_groups for p in g["params"]]
        if len({id(p) for p in everything}) != len(everything):
            raise ValueError(f"{name}: a parameter appears in more than one group")
        self.flat = FlatParams.of(everything)
        # state lives where the parameters are (move the model first: model.to("cuda"), then build this)
        self.backend = self.flat.backend if backend is None else backend
        self._on_device = getattr(self.backend, "is_cuda", False)
        self._empty = self.backend.zeros((0,), np.float32)  # a state buffer a mode does not use
        self._ranges = [self.flat.ranges(g["params"]) for g in self.param_groups]
        self._watched = (*self.segment_keys, "frozen", *self.shared_keys)
        self._key: tuple | None = None
        self.step_count = 0
        self.state: dict[str, np.ndarray] = {n: self._empty for n in self.state_names}
        self._sync()  # validates every group

    # ------------------------------------------------------------------ segment table

    def _zeros(self) -> np.ndarray:
        return self.backend.zeros((self.flat.size,), np.float32)

    def _buffer(self, name: str) -> tuple[np.ndarray, bool]:
        """State buffer ``name``, allocated (zero) on first use; (buffer, True) when just allocated."""
        buf = self.state[name]
        if buf.size == self.flat.size:
            return buf, False
        self.state[name] = buf = self._zeros()
        return buf, True

    def _validate(self, group: dict) -> None:
        """Raise ValueError for a bad setting of ``group`` (subclasses add their own checks)."""
        for key in ("lr", "weight_decay", "l1"):
            _nonnegative(self, key, group[key])

    def _sync(self) -> None:
        """Rebuild the segment table when a group setting changed since the last step."""
        key = tuple(tuple(g[k] for k in self._watched) for g in self.param_groups)
        if key == self._key:
            return
        first = self.param_groups[0]
        for group in self.param_groups:
            self._validate(group)
            for k in self.shared_keys:
                if group[k] != first[k]:
                    raise ValueError(f"{type(self).__name__}: {k!r} must be the same in every param group "
                                     f"(per-group settings are {', '.join(self.segment_keys)} and frozen); got "
                                     f"{first[k]!r} and {group[k]!r}")
        active = [(g, rs) for g, rs in zip(self.param_groups, self._ranges) if not g["frozen"]]
        self._seg_start = np.array([s for _, rs in active for s, _ in rs], dtype=np.int64)
        self._seg_end = np.array([e for _, rs in active for _, e in rs], dtype=np.int64)
        self._cols = {k: np.array([float(g[k]) for g, rs in active for _ in rs], dtype=np.float64)
                      for k in self.segment_keys}
        self._active_size = int((self._seg_end - self._seg_start).sum())
        self._dev_start, self._dev_end = self._dev(self._seg_start), self._dev(self._seg_end)
        self._dev_cols = {k: self._dev(v) for k, v in self._cols.items()}
        all_ranges = [r for rs in self._ranges for r in rs]
        self._covers_all = sum(e - s for s, e in all_ranges) == self.flat.size
        self._key = key

    def _kernel(self, name: str) -> Callable:
        """The backend's kernel ``name`` (its ``_parallel`` variant for large tables when it has one)."""
        k = self.backend.k
        if self._active_size >= self.parallel_min:
            return getattr(k, name + "_parallel", None) or getattr(k, name)
        return getattr(k, name)

    def _table(self, lr: np.ndarray | None = None) -> tuple:
        """(seg_start, seg_end, seg_lr, seg_wd, seg_l1): the kernels' segment-table arguments."""
        c = self._dev_cols
        lr = c["lr"] if lr is None else self._dev(lr)
        return (self._dev_start, self._dev_end, lr, c["weight_decay"], c["l1"])

    def _dev(self, a: np.ndarray):
        """``a`` on the parameters' device (an explicit copy of a small host table on CUDA)."""
        return self.backend.to_device(a) if self._on_device else a

    # ------------------------------------------------------------------ public API

    def zero_grad(self) -> None:
        """Set the gradients of this optimizer's parameters to zero (one memset when it owns them all)."""
        self.flat.zero_grad(None if self._covers_all else [r for rs in self._ranges for r in rs])

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every non-frozen group; ``closure`` (optional) recomputes loss and grads first."""
        loss = closure() if closure is not None else None
        self._sync()
        self.step_count += 1
        if self._active_size:
            self._update()
        return loss

    def _update(self) -> None:
        raise TypeError(f"{type(self).__name__} must define _update")

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters that live in this optimizer's flat buffer (PyTorch's add_param_group)."""
        name = type(self).__name__
        group = {**self.defaults, **param_group, "params": list(param_group["params"])}
        known = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Parameter):
                raise TypeError(f"{name}: expected fastnn Parameters, got {type(p).__name__}")
            if p.flat is not self.flat:
                raise ValueError(f"{name}.add_param_group: parameters must live in the optimizer's flat buffer "
                                 f"(the model the optimizer was built on)")
            if id(p) in known:
                raise ValueError(f"{name}: a parameter appears in more than one group")
        self._validate(group)
        self.param_groups.append(group)
        self._ranges.append(self.flat.ranges(group["params"]))
        self._init_group_state(group, self._ranges[-1])
        self._key = None
        self._sync()

    def _init_group_state(self, group: dict, ranges: list[tuple[int, int]]) -> None:
        """Hook: initialize the state of a newly added group (state buffers start at zero)."""

    def _state_scalars(self) -> dict[str, float]:
        return {}

    def _load_state_scalars(self, scalars: dict[str, float]) -> None:
        """Hook: restore what ``_state_scalars`` saved."""

    def state_dict(self) -> dict:
        """Step count, group hyper-parameters, the allocated state buffers and scalar state (all copies)."""
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        return {"step": self.step_count, "size": self.flat.size, "param_groups": groups,
                "state": {k: to_numpy(a) for k, a in self.state.items() if a.size},
                "scalars": dict(self._state_scalars())}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict()``; validates everything before changing anything."""
        name = type(self).__name__
        if len(state["param_groups"]) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: expected {len(self.param_groups)} param groups, "
                             f"got {len(state['param_groups'])}")
        unknown = sorted(set(state["state"]) - set(self.state))
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unexpected state {unknown} (this optimizer keeps "
                             f"{sorted(self.state)})")
        arrays = {}
        for key, value in state["state"].items():
            value = np.asarray(value)
            if value.shape != (self.flat.size,):
                raise ValueError(f"{name}.load_state_dict: state {key!r} expected shape ({self.flat.size},), "
                                 f"got {value.shape}")
            arrays[key] = value
        if state.get("size", self.flat.size) != self.flat.size:
            raise ValueError(f"{name}.load_state_dict: saved for a flat buffer of {state['size']} parameters, "
                             f"this optimizer's has {self.flat.size}")
        for key in self.state:
            if key in arrays:
                buf, _ = self._buffer(key)
                assign(buf, arrays[key])
            else:  # not allocated when saved: allocated afresh (first-step semantics) when next needed
                self.state[key] = self._empty
        for group, saved in zip(self.param_groups, state["param_groups"]):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.step_count = int(state["step"])
        self._load_state_scalars(state.get("scalars", {}))
        self._key = None

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in g.items() if k != "params"]
        return "\n".join(lines + [")"])


def _nonnegative(opt: Optimizer | str, key: str, value: float) -> None:
    """PyTorch-like check: ``ValueError("SGD: invalid lr -0.1 (must be >= 0)")``."""
    name = opt if isinstance(opt, str) else type(opt).__name__
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name}: invalid {key} {value!r} (must be >= 0)")


def _betas(opt: Optimizer, betas) -> None:
    name = type(opt).__name__
    if len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"{name}: invalid betas[{i}] = {b!r} (must lie in [0, 1))")
