"""Magnitude pruning: zero the smallest-|w| weights to a target sparsity, keep them zero while fine-tuning.

    masks = prune.magnitude_prune(model, 0.8)               # global: one threshold over all weights
    fastnn.fit(model, ..., callbacks=[prune.KeepPruned(masks)])
"""

from __future__ import annotations

import numpy as np

from fastnn.callbacks import Callback, TrainState
from fastnn.model import Sequential


def _targets(model: Sequential, include: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {name: p.data for name, p in model.named_parameters() if name.rsplit(".", 1)[-1] in include}


def magnitude_prune(model: Sequential, sparsity: float, scope: str = "global",
                    include: tuple[str, ...] = ("weight",)) -> dict[str, np.ndarray]:
    """Zero the ``sparsity`` fraction of smallest-magnitude entries of the named parameters (weights by
    default), over all of them at once (``scope="global"``) or per parameter (``"layer"``). Returns the
    keep-masks (bool, parameter shape) by parameter name. Ties at the threshold are pruned together."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"magnitude_prune: sparsity must lie in [0, 1), got {sparsity}")
    if scope not in ("global", "layer"):
        raise ValueError(f"magnitude_prune: scope must be 'global' or 'layer', got {scope!r}")
    targets = _targets(model, include)
    if not targets:
        raise ValueError(f"magnitude_prune: the model has no parameters named {include}")

    def threshold(values: np.ndarray) -> float:
        k = int(round(sparsity * values.size))
        return -np.inf if k == 0 else float(np.partition(values, k - 1)[k - 1])

    if scope == "global":
        cut = threshold(np.concatenate([np.abs(a).ravel() for a in targets.values()]))
        masks = {name: np.abs(a) > cut for name, a in targets.items()}
    else:
        masks = {name: np.abs(a) > threshold(np.abs(a).ravel()) for name, a in targets.items()}
    for name, a in targets.items():
        a[~masks[name]] = 0
    return masks


def sparsity_report(model: Sequential, include: tuple[str, ...] = ("weight",)) -> dict[str, float]:
    """Fraction of exact zeros per parameter, plus "total"."""
    targets = _targets(model, include)
    report = {name: float(np.mean(a == 0)) for name, a in targets.items()}
    total = sum(a.size for a in targets.values())
    report["total"] = sum(float(np.sum(a == 0)) for a in targets.values()) / max(total, 1)
    return report


class KeepPruned(Callback):
    """Re-apply pruning masks after every optimizer step so pruned weights stay exactly zero."""

    def __init__(self, masks: dict[str, np.ndarray]) -> None:
        self.masks = masks

    def on_train_begin(self, state: TrainState) -> None:
        params = dict(state.model.named_parameters())
        unknown = sorted(set(self.masks) - set(params))
        if unknown:
            raise ValueError(f"KeepPruned: masks for parameters the model lacks: {unknown}")
        self._pairs = [(params[name].data, ~mask) for name, mask in self.masks.items()]
        self._apply()

    def _apply(self) -> None:
        for data, pruned in self._pairs:
            data[pruned] = 0

    def on_batch_end(self, state: TrainState, loss: float) -> None:
        self._apply()
