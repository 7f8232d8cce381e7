"""fit / evaluate: convergence on a separable problem, History, determinism, the NaN guard, input checks."""

from __future__ import annotations

# fastnn first: its kernels package sets OMP_WAIT_POLICY / the thread budget before any OpenMP runtime
# (torch's included) starts.
import fastnn  # noqa: F401  isort: skip

import re

import numpy as np
import pytest
import torch

from fastnn import nn, optim
from fastnn.data import BatchIterator

torch.set_num_threads(1)

N_CLASSES = 3
SIDE = 4  # inputs (N, 1, 4, 4): 16 features


def blobs(n: int, seed: int = 0, spread: float = 0.6):
    """N_CLASSES well-separated Gaussian blobs in 16-D, as float32 (N, 1, 4, 4) images."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1234).standard_normal((N_CLASSES, SIDE * SIDE)) * 2.0
    y = rng.integers(0, N_CLASSES, n)
    x = centers[y] + spread * rng.standard_normal((n, SIDE * SIDE))
    return x.astype(np.float32).reshape(n, 1, SIDE, SIDE), y


def small_mlp(seed: int = 0):
    fastnn.manual_seed(seed)
    return fastnn.models.mlp(num_classes=N_CLASSES, in_features=SIDE * SIDE, hidden=16)


def train(model_seed=0, fit_seed=0, epochs=3, opt="adam", **kwargs):
    model = small_mlp(model_seed)
    if opt == "adam":
        o = optim.Adam(model.parameters(), lr=1e-2)
    else:
        o = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), o, blobs(240, seed=1), val=blobs(90, seed=2), epochs=epochs,
                      batch_size=16, seed=fit_seed, progress=False, **kwargs)
    return model, hist


# --------------------------------------------------------------------------- convergence and History


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_fit_reaches_high_accuracy_and_returns_history(opt):
    epochs = 4
    model, hist = train(epochs=epochs, opt=opt)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(hist[key]) == epochs, key
        assert all(isinstance(v, float) and np.isfinite(v) for v in hist[key]), key
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist["val_accuracy"][-1] >= 0.95
    assert hist["accuracy"][-1] >= 0.95
    assert all(0.0 <= a <= 1.0 for a in hist["accuracy"] + hist["val_accuracy"])
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    # the last epoch's val metrics are evaluate() on the final model
    res = fastnn.evaluate(model, nn.CrossEntropyLoss(), blobs(90, seed=2))
    assert res["loss"] == pytest.approx(hist["val_loss"][-1], rel=1e-6)
    assert res["accuracy"] == hist["val_accuracy"][-1]


def test_fit_without_val_has_no_val_keys_and_accepts_batch_iterator():
    model = small_mlp()
    x, y = blobs(100, seed=3)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
                      BatchIterator(x, y, 20, rng=0), epochs=2, progress=False)
    assert set(hist.history) == {"loss", "accuracy"} and len(hist["loss"]) == 2


def test_fit_train_loss_is_mean_over_the_epoch():
    """Epoch loss/accuracy = per-sample means over the epoch's batches (before each update), ragged last batch."""
    model = small_mlp(5)
    reference = small_mlp(5)
    x, y = blobs(50, seed=6)  # batches 16, 16, 16, 2
    opt = optim.SGD(model.parameters(), lr=0.05)
    ref_opt = optim.SGD(reference.parameters(), lr=0.05)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=1, batch_size=16, shuffle=False,
                      progress=False)
    loss_fn = nn.CrossEntropyLoss()
    total, correct = 0.0, 0
    for i in range(0, 50, 16):
        xb, yb = x[i:i + 16], y[i:i + 16]
        logits = reference.forward(xb, True)
        total += loss_fn(logits, yb) * len(yb)
        correct += int((logits.argmax(1) == yb).sum())
        ref_opt.zero_grad()
        reference.backward(loss_fn.backward(), input_grad=False)
        ref_opt.step()
    assert hist["loss"][0] == pytest.approx(total / 50, rel=1e-6)
    assert hist["accuracy"][0] == correct / 50
    np.testing.assert_array_equal(model.flat.data, reference.flat.data)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fit_epoch_loss_is_per_sample_mean_for_any_reduction(reduction):
    """With lr=0 the weights never change, so the epoch loss must equal evaluate()'s per-sample mean
    (evaluate already undoes the reduction; fit must too, or a "sum" loss reports batch_size x the loss)."""
    model = small_mlp(0)
    data = blobs(48, seed=1)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(reduction=reduction), optim.SGD(model.parameters(), lr=0.0), data,
                      val=data, epochs=1, batch_size=16, shuffle=False, progress=False)
    expected = fastnn.evaluate(model, nn.CrossEntropyLoss(), data)["loss"]
    assert hist["loss"][0] == pytest.approx(expected, rel=1e-6)
    assert hist["val_loss"][0] == pytest.approx(expected, rel=1e-6)


def test_fit_with_reduction_none_trains_or_rejects_it_clearly():
    model = small_mlp(0)
    data = blobs(48, seed=1)
    try:
        hist = fastnn.fit(model, nn.CrossEntropyLoss(reduction="none"), optim.SGD(model.parameters(), lr=0.0), data,
                          epochs=1, batch_size=16, shuffle=False, progress=False)
    except ValueError as e:
        assert "reduction" in str(e), str(e)
    else:
        expected = fastnn.evaluate(model, nn.CrossEntropyLoss(), data)["loss"]
        assert hist["loss"][0] == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_bitwise_identical_weights():
    a, ha = train(model_seed=0, fit_seed=7, epochs=2)
    b, hb = train(model_seed=0, fit_seed=7, epochs=2)
    np.testing.assert_array_equal(a.flat.data, b.flat.data)
    assert ha.history == hb.history


def test_different_seed_gives_different_weights():
    a, _ = train(model_seed=0, fit_seed=7, epochs=1)
    b, _ = train(model_seed=0, fit_seed=8, epochs=1)  # different shuffling
    c, _ = train(model_seed=1, fit_seed=7, epochs=1)  # different init
    assert not np.array_equal(a.flat.data, b.flat.data)
    assert not np.array_equal(a.flat.data, c.flat.data)


# --------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("batch_size", [256, 7])
def test_evaluate_matches_manual_computation(reduction, batch_size):
    model = small_mlp(3)
    x, y = blobs(50, seed=4, spread=3.0)  # overlapping blobs: an untrained model gets some wrong
    model.train()
    res = fastnn.evaluate(model, nn.CrossEntropyLoss(reduction=reduction), (x, y), batch_size=batch_size)
    assert model.training  # mode restored
    logits = model(x)
    tloss = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    assert res["loss"] == pytest.approx(tloss, rel=1e-5)
    assert res["accuracy"] == pytest.approx(float(np.mean(logits.argmax(1) == y)), abs=0)
    assert 0.0 < res["accuracy"] < 1.0


def test_evaluate_does_not_change_weights_or_grads():
    model = small_mlp(3)
    model.flat.grad[:] = 0.25
    data_before, grad_before = model.flat.data.copy(), model.flat.grad.copy()
    fastnn.evaluate(model, nn.CrossEntropyLoss(), blobs(30, seed=5))
    np.testing.assert_array_equal(model.flat.data, data_before)
    np.testing.assert_array_equal(model.flat.grad, grad_before)


# --------------------------------------------------------------------------- NaN guard


class RecordingSGD(optim.SGD):
    """SGD that keeps a copy of the weights before every update."""

    def __init__(self, params, model, **kwargs):
        super().__init__(params, **kwargs)
        self.model, self.before = model, []

    def step(self) -> None:
        self.before.append(self.model.flat.data.copy())
        super().step()


def parse_location(msg: str) -> tuple[int, int]:
    m = re.search(r"epoch (\d+), step (\d+)", msg)
    assert m, msg
    return int(m.group(1)), int(m.group(2))


def test_huge_lr_raises_diverged_and_restores_last_good_weights():
    model = small_mlp(0)
    opt = RecordingSGD(model.parameters(), model, lr=1e6)
    x, y = blobs(240, seed=1)
    batch_size = 16
    with pytest.raises(fastnn.TrainingDivergedError) as e:
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=50, batch_size=batch_size, progress=False)
    assert isinstance(e.value, RuntimeError)
    n_updates = len(opt.before)
    assert n_updates >= 1  # the initial weights give a finite loss
    failing_step = n_updates + 1  # the step whose loss was not finite, counted over all epochs
    per_epoch = -(-len(x) // batch_size)
    epoch, step = parse_location(str(e.value))
    assert (epoch, step) == ((failing_step - 1) // per_epoch + 1, (failing_step - 1) % per_epoch + 1), str(e.value)
    # the model holds the weights from before the update that made them diverge: finite and exactly equal
    assert np.all(np.isfinite(model.flat.data))
    np.testing.assert_array_equal(model.flat.data, opt.before[-1])
    for _, p in model.named_parameters():  # the layers see the restored weights too
        assert np.all(np.isfinite(p.data))
    logits = model(x[:16])
    assert np.all(np.isfinite(logits))


def test_overflowing_loss_on_the_first_step_leaves_weights_untouched():
    model = small_mlp(0)
    bias = model[-1].bias
    bias.data[:] = [3e38, -3e38, -3e38]  # logits ~ +-3e38: CE = 3e38 - (-3e38) overflows to inf
    before = model.flat.data.copy()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = blobs(64, seed=1)
    y[:] = 1
    with pytest.raises(fastnn.TrainingDivergedError) as e:
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=1, batch_size=16, progress=False)
    assert parse_location(str(e.value)) == (1, 1)
    np.testing.assert_array_equal(model.flat.data, before)


def test_divergence_in_a_later_epoch_names_that_epoch():
    model = small_mlp(0)
    x, y = blobs(48, seed=1)  # 3 steps per epoch
    opt = RecordingSGD(model.parameters(), model, lr=0.05)
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=1, batch_size=16, progress=False)
    opt.param_groups[0]["lr"] = 1e30  # the next update makes the weights blow up
    opt.before.clear()
    with pytest.raises(fastnn.TrainingDivergedError) as e:
        fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, batch_size=16, progress=False)
    epoch, step = parse_location(str(e.value))
    assert (epoch - 1) * 3 + step == len(opt.before) + 1
    np.testing.assert_array_equal(model.flat.data, opt.before[-1])
    assert np.all(np.isfinite(model.flat.data))


# --------------------------------------------------------------------------- input checks


def _fit(train, val=None, **kwargs):
    model = small_mlp()
    return fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), train, val=val,
                      progress=False, **kwargs)


def test_fit_rejects_float64_inputs():
    x, y = blobs(32)
    with pytest.raises(ValueError, match="float32.*float64"):
        _fit((x.astype(np.float64), y))
    with pytest.raises(ValueError, match="val.*float32"):
        _fit((x, y), val=(x.astype(np.float64), y))


def test_fit_rejects_mismatched_lengths():
    x, y = blobs(32)
    with pytest.raises(ValueError, match="32.*31"):
        _fit((x, y[:31]))
    with pytest.raises(ValueError, match="val"):
        _fit((x, y), val=(x[:10], y[:9]))


def test_fit_rejects_nan_and_inf_inputs():
    x, y = blobs(32)
    x[5, 0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN.*sample 5"):
        _fit((x, y))
    x, y = blobs(32)
    x[9, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="sample 9"):
        _fit((x, y))


def test_fit_rejects_bad_epochs_and_batch_size():
    data = blobs(32)
    with pytest.raises(ValueError, match="epochs"):
        _fit(data, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        _fit(data, batch_size=0)


def test_fit_rejects_wrong_input_shape_with_layer_name():
    x, y = blobs(32)
    with pytest.raises(ValueError, match=r"Linear at model\[1\]"):
        _fit((x[:, :, :, :3].copy(), y))
