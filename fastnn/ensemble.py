"""Ensembles: average the class probabilities of several models; collect snapshots at SGDR restarts.

    snaps = SnapshotEnsemble(cycle_ends=[10, 30, 70])      # epochs where CosineAnnealingWarmRestarts restarts
    fastnn.fit(model, ..., scheduler=sgdr, callbacks=[snaps])
    probs = average_probabilities(snaps.models(), x)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from fastnn.backend import assign, to_numpy
from fastnn.callbacks import Callback, TrainState
from fastnn.model import Sequential


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def average_probabilities(models: Sequence[Sequential], x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Mean over models of softmax(model(x)) in eval mode: (N, K) float64."""
    if not models:
        raise ValueError("average_probabilities: no models given")
    total = None
    for m in models:
        was = m.training
        m.eval()
        try:
            probs = np.concatenate([_softmax(m.forward(x[i:i + batch_size], False))
                                    for i in range(0, len(x), batch_size)])
        finally:
            m.train(was)
        total = probs if total is None else total + probs
    return total / len(models)


class SnapshotEnsemble(Callback):
    """Keep a copy of the weights at the end of each listed epoch (the last epoch of each SGDR cycle,
    where the learning rate is lowest): Huang et al., "Snapshot Ensembles" (2017)."""

    def __init__(self, cycle_ends: Iterable[int]) -> None:
        self.cycle_ends = set(int(e) for e in cycle_ends)
        self.snapshots: list[np.ndarray] = []
        self._model: Sequential | None = None

    def on_train_begin(self, state: TrainState) -> None:
        self._model = state.model

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if state.epoch in self.cycle_ends:
            self.snapshots.append(to_numpy(state.model.flat.data))

    def models(self) -> list[Sequential]:
        """One model per snapshot: the trained architecture rebuilt with the snapshot's weights."""
        from fastnn.io import build

        if self._model is None:
            raise ValueError("SnapshotEnsemble: no training run has been recorded")
        state = self._model.state_dict()   # buffers (e.g. running statistics) as at the end of training
        out = []
        for weights in self.snapshots:
            m = build(self._model.config())
            m.load_state_dict(state)
            assign(m.flat.data, weights)
            out.append(m)
        return out
