"""fit / evaluate: the training loop with validation, a progress bar and a divergence guard.

The loop never allocates in the steady state: layers reuse their buffers, the loss reuses its
own, and the divergence guard keeps the last good weights in one preallocated copy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from fastnn.backend import to_numpy
from fastnn.callbacks import Callback, LearningRateScheduler, TrainState
from fastnn.data.loader import BatchIterator
from fastnn.losses import CrossEntropyLoss
from fastnn.model import Sequential
from fastnn.optim import Optimizer
from fastnn.optim.lr_scheduler import LRScheduler


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/Inf; the model holds the last weights that gave a finite loss."""


@dataclass
class History:
    """Per-epoch metrics: ``history.history["loss"]`` etc., as in Keras."""

    history: dict[str, list[float]] = field(default_factory=dict)

    def append(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            self.history.setdefault(k, []).append(v)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def plot(self, path: str | os.PathLike) -> Path:
        """Write a PNG of train/val loss and accuracy per epoch (needs matplotlib: fastnn[plot])."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install 'fastnn[plot]'") from e
        path = Path(path)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"History.plot: directory {path.parent} does not exist")
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, metric in zip(axes, ("loss", "accuracy")):
            for key in (metric, f"val_{metric}"):
                if key in self.history:
                    values = self.history[key]
                    ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
            ax.set_xlabel("epoch")
            ax.set_title(metric)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _check_data(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise ValueError(f"fit: {name} inputs must be a float32 NumPy array, got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    if len(x) != len(y):
        raise ValueError(f"fit: {name} has {len(x)} inputs but {len(y)} targets")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise ValueError(f"fit: {name} inputs contain NaN or Inf (first at sample {bad})")


def _on_model_device(model: Sequential, *losses) -> None:
    """Put the losses on the model's device."""
    for loss in losses:
        if loss is not None and hasattr(loss, "to") and loss.backend is not model.backend:
            loss.to(model.backend)


def _batches(data, batch_size: int, shuffle: bool, rng) -> BatchIterator:
    if isinstance(data, BatchIterator):
        return data
    x, y = data
    return BatchIterator(x, y, batch_size, shuffle=shuffle, rng=rng)


def evaluate(model: Sequential, loss_fn: CrossEntropyLoss, data, batch_size: int = 256) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` (in eval mode) over ``data`` = (x, y) or a BatchIterator."""
    was_training = model.training
    model.eval()
    _on_model_device(model, loss_fn)
    total_loss, correct, count = 0.0, 0, 0
    try:
        for xb, yb in _batches(data, batch_size, shuffle=False, rng=None):
            logits = model.forward(model.backend.stage(xb, "batch"), False)
            total_loss += float(loss_fn(logits, yb)) * (len(yb) if loss_fn.reduction == "mean" else 1)
            correct += model.backend.count_correct(logits, yb)
            count += len(yb)
    finally:
        model.train(was_training)
    return {"loss": total_loss / max(count, 1), "accuracy": correct / max(count, 1)}


def _exploding_layer(model: Sequential) -> str:
    """Name and gradient norm of the parameter whose last gradient is non-finite or largest."""
    worst, worst_norm = "", -1.0
    for name, p in model.named_parameters():
        norm = float(np.sqrt(np.sum(to_numpy(p.grad).astype(np.float64) ** 2)))
        if not np.isfinite(norm):
            return f"{name} (gradient norm {norm})"
        if norm > worst_norm:
            worst, worst_norm = name, norm
    return f"{worst} (gradient norm {worst_norm:.3g}, the largest)"


def fit(model: Sequential, loss_fn: CrossEntropyLoss, optimizer: Optimizer, train, val=None, epochs: int = 1,
        batch_size: int = 32, shuffle: bool = True, seed: int | np.random.Generator = 0,
        scheduler: LRScheduler | None = None, callbacks: Sequence[Callback] = (), accumulate: int = 1,
        clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
        augment: Callable[[np.ndarray], np.ndarray] | None = None, teacher: Sequential | None = None,
        distill=None, progress: bool = True) -> History:
    """Train ``model`` for ``epochs`` over ``train`` = (x, y) or a BatchIterator (reshuffled every epoch),
    validating on ``val`` after each epoch and stepping ``scheduler`` once per epoch. Returns the
    History of loss/accuracy (and val_*, lr).

    ``accumulate=k`` sums the gradients of k batches (each scaled by 1/k) before one optimizer step;
    ``clip_grad_norm`` / ``clip_grad_value`` clip the gradients before each step; ``augment`` (e.g.
    fastnn.data.augment.Augment) transforms every training batch. Knowledge distillation: with
    ``teacher`` (a trained model, run in eval mode) and ``distill`` (e.g. nn.DistillationLoss(T, alpha),
    called as distill(student_logits, y, teacher_logits)), the training loss is ``distill``; ``loss_fn``
    still measures validation. ``callbacks``: see
    fastnn.callbacks (EarlyStopping, ModelCheckpoint, BackupAndRestore, LearningRateScheduler, CSVLogger).

    NaN guard (always on): if the loss becomes NaN or Inf, the weights are restored to the last step
    whose loss was finite and TrainingDivergedError names the epoch, step and the parameter whose
    gradient exploded.
    """
    if (teacher is None) != (distill is None):
        raise ValueError("fit: knowledge distillation needs both teacher= and distill=")
    train_loss = distill if distill is not None else loss_fn
    if teacher is not None:
        teacher.eval()
    if getattr(loss_fn, "reduction", "mean") == "none":
        raise ValueError("fit: the loss must reduce to a scalar; use reduction='mean' or 'sum', not 'none'")
    if epochs < 1 or batch_size < 1 or accumulate < 1:
        raise ValueError(f"fit: epochs, batch_size and accumulate must be >= 1, got epochs={epochs}, "
                         f"batch_size={batch_size}, accumulate={accumulate}")
    if not isinstance(train, BatchIterator):
        _check_data(*train, "train")
    if val is not None and not isinstance(val, BatchIterator):
        _check_data(*val, "val")
    from fastnn.nn.utils import clip_grad_norm_, clip_grad_value_

    state = TrainState(model, optimizer, scheduler, _batches(train, batch_size, shuffle, seed), History(), epochs)
    if teacher is not None and teacher.backend is not model.backend:
        raise ValueError(f"fit: the teacher is on {teacher.backend.name} but the model is on {model.backend.name}; "
                         f"move it with teacher.to({model.backend.name!r})")
    backend = model.backend
    _on_model_device(model, loss_fn, train_loss)
    last_good = backend.clone(model.flat.data)
    params = model.parameters()
    model.train()
    for cb in callbacks:
        cb.on_train_begin(state)
    first_epoch = state.epoch + 1          # > 1 when BackupAndRestore resumed a run
    for epoch in range(first_epoch, epochs + 1):
        state.epoch = epoch
        for cb in callbacks:
            cb.on_epoch_begin(state)
        total_loss, correct, count = 0.0, 0, 0
        # disable=None: no bar when stderr is not a terminal (logs, CI); the epoch lines still print
        bar = tqdm(state.batches, desc=f"epoch {epoch}/{epochs}", disable=None if progress else True,
                   leave=False, unit="batch")
        n_batches = len(state.batches)
        for step, (xb, yb) in enumerate(bar, start=1):
            state.global_step += 1
            if augment is not None:
                xb = augment(xb)
            xb = backend.stage(xb, "batch")
            logits = model.forward(xb, True)
            if teacher is not None:
                loss = train_loss(logits, yb, teacher.forward(xb, False))
            else:
                loss = train_loss(logits, yb)
            if not np.isfinite(loss):
                culprit = _exploding_layer(model)
                if state.global_step > 1:
                    backend.copy(model.flat.data, last_good)
                raise TrainingDivergedError(
                    f"loss became {loss} at epoch {epoch}, step {step} (global step {state.global_step}); the "
                    f"last update came from the gradient of {culprit}. The model keeps the weights of the last "
                    f"step with a finite loss. Try gradient clipping (clip_grad_norm=...) or a lower learning "
                    f"rate.")
            if (step - 1) % accumulate == 0:
                backend.copy(last_good, model.flat.data)
                optimizer.zero_grad()
            model.backward(train_loss.backward(1.0 / accumulate), input_grad=False)
            if step % accumulate == 0 or step == n_batches:
                if clip_grad_norm is not None:
                    clip_grad_norm_(params, clip_grad_norm)
                if clip_grad_value is not None:
                    clip_grad_value_(params, clip_grad_value)
                optimizer.step()
            total_loss += loss * len(yb) if getattr(train_loss, "reduction", "mean") == "mean" else loss
            correct += backend.count_correct(logits, yb)
            count += len(yb)
            for cb in callbacks:
                cb.on_batch_end(state, loss)
            if progress and step % 10 == 0:
                bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}")
        metrics = {"loss": total_loss / count, "accuracy": correct / count}
        if val is not None:
            metrics.update({f"val_{k}": v for k, v in evaluate(model, loss_fn, val).items()})
        if scheduler is not None or any(isinstance(cb, LearningRateScheduler) for cb in callbacks):
            metrics["lr"] = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        state.history.append(metrics)
        if progress:
            tqdm.write(f"epoch {epoch}/{epochs}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        for cb in callbacks:
            cb.on_epoch_end(state, metrics)
        if state.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end(state)
    return state.history
