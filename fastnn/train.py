"""fit / evaluate: the training loop with validation, a progress bar and a divergence guard.

The loop never allocates in the steady state: layers reuse their buffers, the loss reuses its
own, and the divergence guard keeps the last good weights in one preallocated copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

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


def _check_data(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise ValueError(f"fit: {name} inputs must be a float32 NumPy array, got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    if len(x) != len(y):
        raise ValueError(f"fit: {name} has {len(x)} inputs but {len(y)} targets")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise ValueError(f"fit: {name} inputs contain NaN or Inf (first at sample {bad})")


def _batches(data, batch_size: int, shuffle: bool, rng) -> BatchIterator:
    if isinstance(data, BatchIterator):
        return data
    x, y = data
    return BatchIterator(x, y, batch_size, shuffle=shuffle, rng=rng)


def evaluate(model: Sequential, loss_fn: CrossEntropyLoss, data, batch_size: int = 256) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` (in eval mode) over ``data`` = (x, y) or a BatchIterator."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        for xb, yb in _batches(data, batch_size, shuffle=False, rng=None):
            logits = model.forward(xb, False)
            total_loss += float(loss_fn(logits, yb)) * (len(yb) if loss_fn.reduction == "mean" else 1)
            correct += int((logits.argmax(axis=1) == yb).sum())
            count += len(yb)
    finally:
        model.train(was_training)
    return {"loss": total_loss / max(count, 1), "accuracy": correct / max(count, 1)}


def fit(model: Sequential, loss_fn: CrossEntropyLoss, optimizer: Optimizer, train, val=None, epochs: int = 1,
        batch_size: int = 32, shuffle: bool = True, seed: int | np.random.Generator = 0,
        scheduler: LRScheduler | None = None, progress: bool = True) -> History:
    """Train ``model`` for ``epochs`` over ``train`` = (x, y) or a BatchIterator (reshuffled every epoch),
    validating on ``val`` after each epoch and stepping ``scheduler`` once per epoch. Returns the
    History of loss/accuracy (and val_*).

    If the loss becomes NaN or Inf, the weights are restored to the last step whose loss was finite
    and TrainingDivergedError says at which epoch and step.
    """
    if getattr(loss_fn, "reduction", "mean") == "none":
        raise ValueError("fit: the loss must reduce to a scalar; use reduction='mean' or 'sum', not 'none'")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"fit: epochs and batch_size must be >= 1, got epochs={epochs}, batch_size={batch_size}")
    if not isinstance(train, BatchIterator):
        _check_data(*train, "train")
    if val is not None and not isinstance(val, BatchIterator):
        _check_data(*val, "val")
    batches = _batches(train, batch_size, shuffle, seed)
    history = History()
    last_good = np.empty_like(model.flat.data)
    global_step = 0
    model.train()
    for epoch in range(1, epochs + 1):
        total_loss, correct, count = 0.0, 0, 0
        # disable=None: no bar when stderr is not a terminal (logs, CI); the epoch lines still print
        bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", disable=None if progress else True, leave=False,
                   unit="batch")
        for step, (xb, yb) in enumerate(bar, start=1):
            global_step += 1
            logits = model.forward(xb, True)
            loss = loss_fn(logits, yb)
            if not np.isfinite(loss):
                if global_step > 1:
                    model.flat.data[...] = last_good
                raise TrainingDivergedError(
                    f"loss became {loss} at epoch {epoch}, step {step} (global step {global_step}); the model "
                    f"keeps the weights of the last step with a finite loss. Try a lower learning rate or "
                    f"gradient clipping.")
            last_good[...] = model.flat.data
            optimizer.zero_grad()
            model.backward(loss_fn.backward(), input_grad=False)
            optimizer.step()
            total_loss += loss * len(yb) if loss_fn.reduction == "mean" else loss
            correct += int((logits.argmax(axis=1) == yb).sum())
            count += len(yb)
            if progress and step % 10 == 0:
                bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}")
        metrics = {"loss": total_loss / count, "accuracy": correct / count}
        if val is not None:
            metrics.update({f"val_{k}": v for k, v in evaluate(model, loss_fn, val).items()})
        if scheduler is not None:
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            scheduler.step()
        history.append(metrics)
        if progress:
            tqdm.write(f"epoch {epoch}/{epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return history
