"""fit() callbacks and options: early stopping, checkpoints, bitwise resume, CSV logs, LR callback,
gradient accumulation and clipping, the NaN guard's report, History.plot."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import csv
import os

import numpy as np
import pytest

from fastnn import io, nn, optim
from fastnn.callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
)
from fastnn.data import BatchIterator
from fastnn.optim.lr_scheduler import CosineAnnealingLR


def blobs(n=192, seed=0):
    """Two overlapping Gaussian classes in 8 features (val loss stops improving after a few epochs)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.standard_normal((n, 8)) + 0.6 * y[:, None]).astype(np.float32)
    return x, y


def small_model(seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


class RecordWeights(Callback):
    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, state, logs):
        self.weights[state.epoch] = state.model.flat.data.copy()


class KillAfter(Callback):
    """Simulates a crash right after epoch ``epoch`` has ended (and was backed up)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state, logs):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt("killed")


def test_early_stopping_stops_and_restores_the_best_epoch():
    x, y = blobs()
    xv, yv = blobs(96, seed=1)
    model = small_model()
    rec = RecordWeights()
    stop = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5, momentum=0.9), (x, y),
                      val=(xv, yv), epochs=60, batch_size=16, callbacks=[rec, stop], progress=False)
    ran = len(hist["val_loss"])
    assert ran < 60 and stop.stopped_epoch == ran, "the early stop must have fired"
    best = int(np.argmin(hist["val_loss"])) + 1
    assert stop.best_epoch == best and ran == best + 2  # patience 1: stops on the second epoch without progress
    np.testing.assert_array_equal(model.flat.data, rec.weights[best])


def test_restore_best_weights_also_when_the_run_ends_without_stopping():
    x, y = blobs()
    model = small_model()
    rec = RecordWeights()
    stop = EarlyStopping(monitor="loss", patience=100, restore_best_weights=True)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=2.0), (x, y), epochs=8,
                      batch_size=8, callbacks=[rec, stop], progress=False)
    assert stop.stopped_epoch == 0 and len(hist["loss"]) == 8
    best = int(np.argmin(hist["loss"])) + 1
    np.testing.assert_array_equal(model.flat.data, rec.weights[best])


def _run(backup_dir, kill_after=None, epochs=5):
    x, y = blobs()
    model = small_model(seed=3)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = CosineAnnealingLR(opt, T_max=epochs)
    batches = BatchIterator(x, y, 16, rng=7)
    cbs = [BackupAndRestore(backup_dir)] if backup_dir else []
    if kill_after:
        cbs.append(KillAfter(kill_after))
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, batches, epochs=epochs, scheduler=sched, callbacks=cbs,
                      progress=False)
    return model, hist


def test_resume_after_kill_is_bitwise_equal_to_uninterrupted_run(tmp_path):
    reference, ref_hist = _run(None)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "bk", kill_after=2)
    assert (tmp_path / "bk" / BackupAndRestore.FILE).is_file()
    resumed, hist = _run(tmp_path / "bk")
    np.testing.assert_array_equal(resumed.flat.data, reference.flat.data)  # bitwise
    assert hist.history == ref_hist.history
    assert not (tmp_path / "bk" / BackupAndRestore.FILE).exists(), "a finished run deletes its backup"


def test_corrupt_backup_is_refused(tmp_path):
    (tmp_path / BackupAndRestore.FILE).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(ValueError, match="backup"):
        _run(tmp_path)


def test_checkpoint_killed_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    x, y = blobs()
    model = small_model()
    path = tmp_path / "ckpt.safetensors"
    ckpt = ModelCheckpoint(path, monitor="loss")
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
               callbacks=[ckpt], progress=False)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError(5, "I/O error (simulated crash during rename)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
                   callbacks=[ckpt], progress=False)
    monkeypatch.undo()
    assert path.read_bytes() == before
    io.load(path)  # still a complete, loadable model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors"]


def test_checkpoint_best_only_and_epoch_names(tmp_path):
    x, y = blobs()
    model = small_model()
    ModelCheckpoint(tmp_path / "m-{epoch}.safetensors", monitor="loss")  # directory checked at construction
    every = ModelCheckpoint(tmp_path / "m-{epoch}.safetensors", monitor="loss")
    best = ModelCheckpoint(tmp_path / "best.safetensors", monitor="loss", save_best_only=True)
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=3,
                      callbacks=[every, best], progress=False)
    assert sorted(p.name for p in tmp_path.glob("m-*")) == ["m-1.safetensors", "m-2.safetensors", "m-3.safetensors"]
    saved = io.read_metadata(tmp_path / "best.safetensors")
    assert int(saved["epoch"]) == int(np.argmin(hist["loss"])) + 1
    with pytest.raises(OSError, match="not writable|does not exist"):
        ModelCheckpoint(tmp_path / "missing" / "m.safetensors")


def test_csv_logger_and_lr_callback(tmp_path):
    x, y = blobs()
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=1.0)
    log = tmp_path / "log.csv"
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), val=blobs(64, 2), epochs=3,
                      callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)), CSVLogger(log)],
                      progress=False)
    assert hist["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in rows] == pytest.approx(hist["val_loss"])


def test_gradient_accumulation_equals_the_large_batch():
    x, y = blobs(128)
    results = []
    for batch, acc in ((32, 1), (16, 2), (8, 4)):
        model = small_model(seed=5)
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.3), (x, y), epochs=2,
                   batch_size=batch, shuffle=False, accumulate=acc, progress=False)
        results.append(model.flat.data.copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[2], results[0], rtol=1e-5, atol=1e-6)


def test_gradient_clipping_bounds_each_update():
    x, y = blobs(64)
    model = small_model()
    before = model.flat.data.copy()
    lr, max_norm = 0.5, 1e-3
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr), (x, y), epochs=1, batch_size=64,
               shuffle=False, clip_grad_norm=max_norm, progress=False)
    assert np.linalg.norm((model.flat.data - before).astype(np.float64)) <= lr * max_norm + 1e-6
    model2 = small_model()
    fastnn.fit(model2, nn.CrossEntropyLoss(), optim.SGD(model2.parameters(), lr=lr), (x, y), epochs=1,
               batch_size=64, shuffle=False, clip_grad_value=1e-4, progress=False)
    assert np.abs(model2.flat.data - before).max() <= lr * 1e-4 + 1e-7  # + float32 rounding of p - lr*g


def test_nan_guard_names_the_exploding_parameter():
    x, y = blobs(64)
    model = small_model()
    with pytest.raises(fastnn.TrainingDivergedError, match=r"gradient of \d\.(weight|bias)") as e:
        fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e12), (x, y), epochs=3,
                   batch_size=16, progress=False)
    assert "clip" in str(e.value) and np.isfinite(model.flat.data).all()


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = blobs(64)
    model = small_model()
    hist = fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), (x, y),
                      val=blobs(32, 1), epochs=2, progress=False)
    out = hist.plot(tmp_path / "history.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
