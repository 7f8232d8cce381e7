"""diagnostics.report and GradientStats against direct NumPy computations, and their warnings."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np

from fastnn import diagnostics, nn, optim


def batch(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 20)).astype(np.float32), rng.integers(0, 3, n)


def test_gradient_norms_match_a_manual_backward_and_grads_are_restored():
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = batch()
    model.flat.grad[:] = 7.0
    rep = diagnostics.report(model, x, y, lr=0.1)
    assert np.all(model.flat.grad == 7.0), "report must leave the model's gradients as they were"
    loss = nn.CrossEntropyLoss()
    model.flat.grad[:] = 0
    loss(model.forward(x, True), y)
    model.backward(loss.backward())
    for entry, (name, p) in zip(rep.params, model.named_parameters()):
        assert entry["name"] == name
        np.testing.assert_allclose(entry["grad_norm"], np.linalg.norm(p.grad), rtol=1e-5)
        np.testing.assert_allclose(entry["update_ratio"], 0.1 * np.linalg.norm(p.grad) / np.linalg.norm(p.data),
                                   rtol=1e-5)
    assert rep.table().splitlines()[1].startswith("0.weight")


def test_dead_relus_and_saturation_are_reported():
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 10), nn.Sigmoid(), nn.Linear(10, 3))
    model[0].bias.data[:6] = -100.0       # 6 of 10 units can never fire
    model[2].weight.data *= 200.0          # pushes the sigmoid to 0 / 1
    x, y = batch()
    rep = diagnostics.report(model, x, y)
    relu, sig = rep.activations
    assert relu["kind"] == "ReLU" and relu["dead"] >= 0.6
    h = np.maximum(x @ model[0].weight.data.T + model[0].bias.data, 0)
    assert relu["dead"] == np.mean(np.all(h <= 0, axis=0))
    assert sig["saturated"] > 0.5
    assert any("dead ReLUs" in w for w in rep.warnings) and any("saturated" in w for w in rep.warnings)


def test_exploding_and_vanishing_gradients_warn():
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = batch()
    model[2].weight.data[:] = np.linspace(-1e6, 1e6, 24, dtype=np.float32).reshape(3, 8)
    assert any("exploding gradient: |g| of 0.weight" in w for w in diagnostics.report(model, x, y).warnings)
    model[2].weight.data[:] = 0.0
    assert any("vanishing gradient: |g| of 0.weight" in w for w in diagnostics.report(model, x, y).warnings)


def test_gradient_stats_callback_records_every_epoch():
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = batch(96)
    before = model.flat.data.copy()
    stats = diagnostics.GradientStats()
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
               callbacks=[stats], progress=False)
    assert set(stats.grad_norm) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    w = model[0].weight.data
    moved = w - before[:w.size].reshape(w.shape)
    np.testing.assert_allclose(stats.update_ratio["0.weight"][0], np.linalg.norm(moved) / np.linalg.norm(w),
                               rtol=1e-5)
