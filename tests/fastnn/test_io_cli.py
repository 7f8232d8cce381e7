"""Model files (safetensors + architecture, atomic writes, corrupt files) and the CLI end to end."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fastnn import io, models
from fastnn.cli import main


def _x(n=3):
    return np.random.default_rng(0).standard_normal((n, 1, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("builder", [models.lenet5, models.mlp])
def test_save_load_round_trip_reproduces_model(tmp_path, builder):
    model = builder()
    path = tmp_path / "m.safetensors"
    io.save(model, path, metadata={"note": "hi"})
    loaded = io.load(path)
    assert type(loaded) is type(model) and len(loaded) == len(model)
    for (k1, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and np.array_equal(a, b)
    np.testing.assert_array_equal(loaded.eval()(_x()), model.eval()(_x()))
    meta = io.read_metadata(path)
    assert meta["note"] == "hi" and json.loads(meta[io.ARCH_KEY]) == model.config()


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    model = models.mlp()
    path = tmp_path / "m.safetensors"
    io.save(model, path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    model.flat.data[:] = 0
    with pytest.raises(OSError):
        io.save(model, path)
    assert path.read_bytes() == before, "a failed save must leave the old file intact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_save_into_missing_directory_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.save(models.mlp(), tmp_path / "nope" / "m.safetensors")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "no_arch"])
def test_corrupt_model_files_raise_clear_errors(tmp_path, damage):
    path = tmp_path / "m.safetensors"
    io.save(models.mlp(), path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        from safetensors.numpy import save as st_save

        path.write_bytes(st_save({"0.weight": np.zeros((2, 2), np.float32)}))
    with pytest.raises(ValueError, match=str(path.name)):
        io.load(path)


def test_load_missing_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.load("/nonexistent/model.safetensors")


def test_cli_train_eval_info_warmup(tmp_path, capsys):
    out = tmp_path / "mlp.safetensors"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--batch-size", "64", "--no-progress",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    acc = float(text.split("test accuracy ")[1].split("%")[0])
    assert acc > 80, text  # one epoch of the MLP on 3,500 real digits
    assert out.is_file()
    assert main(["eval", str(out)]) == 0
    assert f"accuracy {acc:.2f}%" in capsys.readouterr().out  # same split re-created from the metadata
    assert main(["info"]) == 0
    info = capsys.readouterr().out
    assert "OMP_WAIT_POLICY=PASSIVE" in info and "numba cache dir" in info and "CUDA" in info
    assert main(["warmup"]) == 0
    assert "kernels ready" in capsys.readouterr().out


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    assert main(["eval", str(bad)]) == 2
    assert "bad.safetensors" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", "cifar99:/x"])


def test_cli_unwritable_output_fails_cleanly(tmp_path, capsys):
    target = tmp_path / "missing-dir" / "m.safetensors"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--no-progress", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "missing-dir" in err and "before training" in err
    assert not Path(target).exists()
