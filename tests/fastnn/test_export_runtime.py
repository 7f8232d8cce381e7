"""Export (float32 / float16 / int8) and the NumPy-only runtime: outputs, quantization, no-numba import."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import subprocess
import sys

import numpy as np
import pytest

from fastnn import nn, optim, runtime
from fastnn.data import load_bundled_mnist, train_val_test
from fastnn.export import export_model, quantize_int8


def mixed_model():
    fastnn.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.1), nn.AvgPool2d(3, 1, 1, False),
                         nn.Conv2d(4, 6, (3, 2), padding=(1, 0)), nn.Tanh(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(6 * 3 * 2, 8), nn.Sigmoid(), nn.Linear(8, 5))


@pytest.mark.parametrize("build", [fastnn.models.lenet5, fastnn.models.mlp, mixed_model])
def test_float32_runtime_equals_the_model(tmp_path, build):
    model = build().eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28) if build is not mixed_model else (3, 1, 13, 11))
    x = x.astype(np.float32)
    export_model(model, tmp_path / "m.npz")
    np.testing.assert_allclose(runtime.load(tmp_path / "m.npz")(x), model(x), rtol=1e-4, atol=1e-5)


def test_int8_quantization_formula():
    w = np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32)
    w[2] = 0
    q, scale = quantize_int8(w)
    assert q.dtype == np.int8 and scale.shape == (4,)
    np.testing.assert_allclose(scale[[0, 1, 3]], np.abs(w[[0, 1, 3]]).reshape(3, -1).max(1) / 127, rtol=1e-6)
    assert np.abs(q).max() == 127
    deq = q * scale[:, None, None, None]
    assert np.all(np.abs(deq - w) <= scale[:, None, None, None] / 2 + 1e-7)


def test_int8_agrees_with_the_float_model_on_99_percent_of_test_digits(tmp_path):
    data = train_val_test(*load_bundled_mnist(), seed=0)
    model = fastnn.models.mlp()
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), data["train"], epochs=2,
               batch_size=64, progress=False)
    x, y = data["test"]
    sizes = export_model(model.eval(), tmp_path / "q.npz", "int8")
    float_pred = model(x).argmax(axis=1)
    q = runtime.load(tmp_path / "q.npz")
    assert np.mean(q.predict(x) == float_pred) >= 0.99
    assert np.mean(q.predict(x) == y) >= np.mean(float_pred == y) - 0.005
    assert sizes["weights"] < 0.3 * 4 * model.flat.size  # int8 weights: about a quarter of float32
    half = export_model(model, tmp_path / "h.npz", "float16")
    np.testing.assert_allclose(runtime.load(tmp_path / "h.npz")(x), model(x), rtol=1e-2, atol=1e-2)
    assert half["weights"] < 0.55 * 4 * model.flat.size


def test_runtime_needs_only_numpy(tmp_path):
    export_model(fastnn.models.mlp().eval(), tmp_path / "m.npz", "int8")
    code = ("import sys; sys.modules['numba'] = None; sys.modules['scipy'] = None; sys.modules['torch'] = None\n"
            "import numpy as np, fastnn.runtime as rt\n"
            f"m = rt.load({str(tmp_path / 'm.npz')!r})\n"
            "p = m.predict_proba(np.zeros((2, 1, 28, 28), np.float32))\n"
            "assert p.shape == (2, 10) and abs(p.sum() - 2) < 1e-6\n"
            "assert 'numba' not in [k for k, v in sys.modules.items() if v is not None]\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("damage", ["garbage", "no_meta", "wrong_format", "nan"])
def test_bad_export_files_are_refused(tmp_path, damage):
    path = tmp_path / "m.npz"
    export_model(fastnn.models.mlp().eval(), path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    if damage == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        if damage == "no_meta":
            del arrays["__meta__"]
        elif damage == "wrong_format":
            arrays["__meta__"] = np.frombuffer(b'{"format": "other"}', np.uint8)
        else:
            arrays["1.weight"][0, 0] = np.nan
        np.savez(path, **arrays)
    with pytest.raises(ValueError, match="m.npz"):
        runtime.load(path)
    with pytest.raises(FileNotFoundError):
        runtime.load(tmp_path / "missing.npz")


def wide_model():
    fastnn.manual_seed(2)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4),   # BN after ReLU: not folded
                         nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.GELU()),
                                     activation=nn.ELU()),
                         nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(24, 16), nn.LayerNorm(16),
                         nn.SiLU(), nn.Softplus(), nn.Dropout(0.3), nn.Linear(16, 4), nn.LogSoftmax(dim=1))


@pytest.mark.parametrize("build", [fastnn.models.resnet8, wide_model])
def test_runtime_runs_batchnorm_residual_and_the_other_layers(tmp_path, build):
    model = build()
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28) if build is fastnn.models.resnet8 else (4, 1, 9, 7))
    x = x.astype(np.float32)
    for _ in range(3):  # non-trivial running statistics
        model.forward(x, True)
    model.eval()
    export_model(model, tmp_path / "m.npz")
    np.testing.assert_allclose(runtime.load(tmp_path / "m.npz")(x), model(x), rtol=1e-4, atol=1e-4)
