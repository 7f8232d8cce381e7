"""Magnitude pruning (global / per layer, masks kept while fine-tuning) and ensembles."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np
import pytest

from fastnn import nn, optim, prune
from fastnn.ensemble import SnapshotEnsemble, average_probabilities


def data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.standard_normal((n, 10)) + y[:, None]).astype(np.float32)
    return x, y


def model(seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))


def test_global_pruning_hits_the_sparsity_and_removes_the_smallest_weights():
    m = model()
    weights = np.concatenate([m[0].weight.data.ravel(), m[2].weight.data.ravel()])
    cut = np.sort(np.abs(weights))[int(0.7 * weights.size) - 1]
    masks = prune.magnitude_prune(m, 0.7)
    report = prune.sparsity_report(m)
    assert report["total"] == pytest.approx(0.7, abs=1 / weights.size)
    for name, mask in masks.items():
        w = dict(m.named_parameters())[name].data
        assert np.all(w[~mask] == 0)
    kept = np.concatenate([m[0].weight.data.ravel(), m[2].weight.data.ravel()])
    assert np.all(np.abs(kept[kept != 0]) > cut)
    assert np.all(m[0].bias.data != 0)  # biases are not pruned by default


def test_per_layer_pruning_gives_each_layer_the_sparsity():
    m = model()
    prune.magnitude_prune(m, 0.5, scope="layer")
    report = prune.sparsity_report(m)
    assert report["0.weight"] == pytest.approx(0.5, abs=0.01) and report["2.weight"] == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="sparsity"):
        prune.magnitude_prune(m, 1.0)


def test_masks_survive_fine_tuning():
    x, y = data()
    m = model()
    loss = nn.CrossEntropyLoss()
    fastnn.fit(m, loss, optim.Adam(m.parameters(), lr=1e-2), (x, y), epochs=10, batch_size=16, progress=False)
    masks = prune.magnitude_prune(m, 0.6)
    hist = fastnn.fit(m, loss, optim.Adam(m.parameters(), lr=1e-2), (x, y), epochs=5, batch_size=16,
                      callbacks=[prune.KeepPruned(masks)], progress=False)
    assert prune.sparsity_report(m)["total"] >= 0.6 - 1e-9
    for name, mask in masks.items():
        assert np.all(dict(m.named_parameters())[name].data[~mask] == 0)
    assert hist["accuracy"][-1] > 0.85


def test_average_probabilities_and_snapshots():
    x, y = data()
    m = model()
    snaps = SnapshotEnsemble(cycle_ends=[2, 4])
    fastnn.fit(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.05, momentum=0.9), (x, y), epochs=4,
               callbacks=[snaps], progress=False)
    members = snaps.models()
    assert len(members) == 2
    np.testing.assert_array_equal(members[1].flat.data, m.flat.data)
    assert not np.array_equal(members[0].flat.data, members[1].flat.data)
    probs = average_probabilities(members, x)
    z = [mm.eval()(x).astype(np.float64) for mm in members]
    soft = [np.exp(a - a.max(1, keepdims=True)) / np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True)
            for a in z]
    np.testing.assert_allclose(probs, (soft[0] + soft[1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
