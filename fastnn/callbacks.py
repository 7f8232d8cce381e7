"""Keras-style callbacks for ``fastnn.fit``: early stopping, checkpoints, backup-and-restore, logging.

A callback overrides any of ``on_train_begin(state)``, ``on_epoch_begin(state)``,
``on_batch_end(state, loss)``, ``on_epoch_end(state, logs)`` and ``on_train_end(state)``; ``state`` is
the running TrainState (model, optimizer, scheduler, batch iterator, history, epoch). Setting
``state.stop_training = True`` ends training after the current epoch.
"""

from __future__ import annotations

import csv
import io as _io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn.backend import assign, to_numpy

if TYPE_CHECKING:
    from fastnn.data.loader import BatchIterator
    from fastnn.model import Sequential
    from fastnn.optim.base import Optimizer
    from fastnn.optim.lr_scheduler import LRScheduler
    from fastnn.train import History


@dataclass
class TrainState:
    """What callbacks see and may change while ``fit`` runs."""

    model: Sequential
    optimizer: Optimizer
    scheduler: LRScheduler | None
    batches: BatchIterator
    history: History
    epochs: int
    epoch: int = 0                    # the epoch running now (1-based); 0 before the first
    global_step: int = 0
    stop_training: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, state: TrainState) -> None: ...

    def on_epoch_begin(self, state: TrainState) -> None: ...

    def on_batch_end(self, state: TrainState, loss: float) -> None: ...

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...


def _improvement(mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


class _Monitor:
    """Tracks the best value of ``monitor`` (with ``min_delta``) over epochs."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor, self.mode, self.min_delta = monitor, _improvement(mode, monitor), abs(min_delta)
        self.best: float | None = None

    def value(self, logs: dict[str, float], who: str) -> float:
        if self.monitor not in logs:
            raise ValueError(f"{who}: monitored metric {self.monitor!r} is not in the epoch logs {sorted(logs)}; "
                             f"pass val= to fit() for val_* metrics")
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the model ends with the best epoch's weights, also when training
    runs to the last epoch without stopping early.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = False) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.tracker = _Monitor(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = patience, restore_best_weights
        self.wait, self.best_epoch, self.stopped_epoch = 0, 0, 0
        self._best_weights: np.ndarray | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self.tracker.best, self.wait, self.best_epoch, self.stopped_epoch = None, 0, 0, 0

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        value = self.tracker.value(logs, "EarlyStopping")
        if self.tracker.improved(value):
            self.tracker.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best_weights:
                self._best_weights = to_numpy(state.model.flat.data)
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = state.epoch
            state.stop_training = True

    def on_train_end(self, state: TrainState) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            assign(state.model.flat.data, self._best_weights)


class ModelCheckpoint(Callback):
    """Save the model (fastnn.io.save: safetensors + architecture, atomic) after each epoch, or only when
    ``monitor`` improved (``save_best_only``). ``path`` may contain ``{epoch}`` and metric names."""

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto") -> None:
        self.path, self.save_best_only = str(path), save_best_only
        self.tracker = _Monitor(monitor, mode, 0.0)
        directory = Path(self.path).parent
        if not directory.is_dir() or not os.access(directory, os.W_OK):
            raise OSError(f"ModelCheckpoint: directory {directory} does not exist or is not writable")

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        from fastnn import io

        if self.save_best_only:
            value = self.tracker.value(logs, "ModelCheckpoint")
            if not self.tracker.improved(value):
                return
            self.tracker.best = value
        io.save(state.model, self.path.format(epoch=state.epoch, **logs),
                metadata={"epoch": str(state.epoch), "logs": json.dumps(logs)})


class BackupAndRestore(Callback):
    """Back up everything a run needs to continue after each epoch; a new ``fit`` with the same backup
    directory resumes from it, and its final weights equal an uninterrupted run's bit for bit.

    Saved: parameters, optimizer state, scheduler state, the batch iterator's and every layer's
    Generator state, the epoch and the history (one safetensors file, written atomically). The backup
    is deleted when training completes (``delete_on_end``).
    """

    FILE = "backup.safetensors"

    def __init__(self, backup_dir: str | os.PathLike, delete_on_end: bool = True) -> None:
        self.dir = Path(backup_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not os.access(self.dir, os.W_OK):
            raise OSError(f"BackupAndRestore: backup directory {self.dir} is not writable")
        self.path = self.dir / self.FILE
        self.delete_on_end = delete_on_end

    def on_train_begin(self, state: TrainState) -> None:
        if self.path.is_file():
            restore_training_state(self.path, state)

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        save_training_state(self.path, state)

    def on_train_end(self, state: TrainState) -> None:
        if self.delete_on_end and not state.stop_training and state.epoch >= state.epochs:
            self.path.unlink(missing_ok=True)


def _generators(module: Any, seen: set[int] | None = None) -> list[np.random.Generator]:
    """Every np.random.Generator held by a module or its sub-modules, in a stable order."""
    from fastnn.layers.base import Module

    seen = set() if seen is None else seen
    found = []
    for value in vars(module).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, np.random.Generator) and id(item) not in seen:
                seen.add(id(item))
                found.append(item)
            elif isinstance(item, Module):
                found += _generators(item, seen)
    return found


def save_training_state(path: Path, state: TrainState) -> None:
    """Write the resumable state of a run (see BackupAndRestore) atomically to ``path``."""
    from safetensors.numpy import save as st_save

    from fastnn.io import atomic_write_bytes

    opt = state.optimizer.state_dict()
    tensors = {"params": to_numpy(state.model.flat.data)}
    tensors.update({f"optim.{k}": v for k, v in opt["state"].items()})
    meta = {"epoch": state.epoch, "global_step": state.global_step, "history": state.history.history,
            "optimizer": {k: v for k, v in opt.items() if k != "state"},
            "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
            "batches_rng": state.batches.get_state(),
            "layer_rngs": [g.bit_generator.state for g in _generators(state.model)]}
    atomic_write_bytes(path, st_save(tensors, metadata={"fastnn_training_state": json.dumps(meta)}))


def restore_training_state(path: Path, state: TrainState) -> None:
    """Load what save_training_state wrote into the running ``state`` (validated before use)."""
    from safetensors.numpy import load as st_load

    from fastnn.io import read_metadata

    try:
        meta = json.loads(read_metadata(path)["fastnn_training_state"])
        tensors = st_load(path.read_bytes())
    except (KeyError, ValueError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable fastnn training backup ({e})") from e
    if tensors["params"].shape != state.model.flat.data.shape:
        raise ValueError(f"{path}: backup holds {tensors['params'].size} parameters, the model has "
                         f"{state.model.flat.size}")
    gens = _generators(state.model)
    if len(gens) != len(meta["layer_rngs"]):
        raise ValueError(f"{path}: backup has {len(meta['layer_rngs'])} layer generators, the model {len(gens)}")
    opt = dict(meta["optimizer"])
    opt["state"] = {k[len("optim."):]: v for k, v in tensors.items() if k.startswith("optim.")}
    state.optimizer.load_state_dict(opt)
    assign(state.model.flat.data, tensors["params"])
    if state.scheduler is not None and meta["scheduler"] is not None:
        state.scheduler.load_state_dict(meta["scheduler"])
    state.batches.set_state(meta["batches_rng"])
    for g, s in zip(gens, meta["layer_rngs"]):
        g.bit_generator.state = s
    state.history.history = {k: list(v) for k, v in meta["history"].items()}
    state.epoch, state.global_step = int(meta["epoch"]), int(meta["global_step"])


class LearningRateScheduler(Callback):
    """Keras' LearningRateScheduler: before each epoch set every group's lr to ``schedule(epoch, lr)``
    (epoch counted from 0)."""

    def __init__(self, schedule) -> None:
        self.schedule = schedule

    def on_epoch_begin(self, state: TrainState) -> None:
        lr = float(self.schedule(state.epoch - 1, state.optimizer.param_groups[0]["lr"]))
        if not np.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: schedule returned lr={lr} at epoch {state.epoch - 1}")
        for g in state.optimizer.param_groups:
            g["lr"] = lr


class CSVLogger(Callback):
    """Append one row of epoch logs per epoch to a CSV file (header written once); each write replaces
    the file atomically with the rows so far."""

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path, self.append = Path(path), append
        if not self.path.parent.is_dir() or not os.access(self.path.parent, os.W_OK):
            raise OSError(f"CSVLogger: directory {self.path.parent} does not exist or is not writable")
        self.rows: list[dict[str, float]] = []

    def on_train_begin(self, state: TrainState) -> None:
        self.rows = []
        if self.append and self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [dict(r) for r in csv.DictReader(f)]

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        from fastnn.io import atomic_write_bytes

        self.rows.append({"epoch": state.epoch, **logs})
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        out = _io.StringIO()
        writer = csv.DictWriter(out, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self.path, out.getvalue().encode())
