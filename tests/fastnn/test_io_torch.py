"""Weights between PyTorch and fastnn (safetensors / npz, both directions) and .npz model files."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from twins import torch_lenet5

from fastnn import io


def torch_lenet():
    torch.manual_seed(0)
    return torch_lenet5()


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_torch_weights_in_and_out(tmp_path, suffix):
    tm = torch_lenet()
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    path = tmp_path / f"torch{suffix}"
    if suffix == ".safetensors":
        save_file(tm.state_dict(), path)
    else:
        np.savez(path, **{k: v.numpy() for k, v in tm.state_dict().items()})
    model = io.load_state_dict(fastnn.models.lenet5(), path)
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.eval()(x), expected, rtol=1e-4, atol=1e-5)
    # and back: fastnn -> file -> torch
    model.flat.data[:] *= 0.5
    out = tmp_path / f"back{suffix}"
    io.save_state_dict(model, out)
    state = load_file(out) if suffix == ".safetensors" else {k: torch.from_numpy(v) for k, v in np.load(out).items()}
    tm.load_state_dict(state)
    with torch.no_grad():
        np.testing.assert_allclose(tm(torch.from_numpy(x)).numpy(), model(x), rtol=1e-4, atol=1e-5)


def test_npz_model_file_round_trip_and_errors(tmp_path):
    model = fastnn.models.mlp()
    io.save(model, tmp_path / "m.npz", metadata={"note": "x"})
    loaded = io.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.flat.data, model.flat.data)
    assert io.read_metadata(tmp_path / "m.npz")["note"] == "x"
    with pytest.raises(ValueError, match="weights do not match"):
        io.load_state_dict(fastnn.models.lenet5(), tmp_path / "m.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ValueError, match="bad.npz"):
        io.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="load_state_dict"):
        io.load(tmp_path / "plain.npz")
