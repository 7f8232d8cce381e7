"""fastnn.backend on a machine without a GPU: the CPU backend's helpers, and Backend("cuda") refusing with
a reason (the CUDA path itself is tested on the simulator in tests/cuda)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.backend import CPU, Backend, assign, cuda_unavailable_reason, get_backend, to_numpy


def test_backend_factory_and_shared_instances():
    assert Backend("cpu").name == "cpu" and not Backend("cpu").is_cuda
    assert get_backend("cpu") is CPU and get_backend(CPU) is CPU
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Backend("tpu")


def test_cpu_helpers():
    a, b = np.arange(5, dtype=np.float32), np.ones(5, np.float32)
    out = CPU.empty((5,))
    CPU.add(out, a, b)
    np.testing.assert_array_equal(out, a + 1)
    CPU.fill(out, 3.0)
    assert (out == 3).all() and CPU.sum(a) == 10.0
    c = CPU.clone(a)
    c[0] = 9
    assert a[0] == 0
    logits = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 0.0]], np.float32)
    assert CPU.count_correct(logits, np.array([1, 1, 0])) == 2
    assert CPU.stage(a, "batch") is a  # host arrays are already where the CPU kernels run
    assign(c, 7)
    assert (c == 7).all() and to_numpy(c) is not c


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", reason="the simulator is a usable device")
def test_cuda_unavailable_says_why():
    why = cuda_unavailable_reason()
    if why is None:
        pytest.skip("a CUDA device is present here")
    with pytest.raises(RuntimeError, match="CUDA is not usable here: .*(driver|device|numba-cuda)"):
        Backend("cuda")


def test_cli_train_on_unusable_cuda_fails_cleanly(tmp_path):
    if cuda_unavailable_reason() is None or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("a CUDA device is present here")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-m", "fastnn", "train", "--device", "cuda", "--epochs", "1", "-o",
                        str(tmp_path / "m.safetensors")], capture_output=True, text=True, env=env)
    assert r.returncode == 2
    assert "CUDA is not usable here" in r.stderr and "Traceback" not in r.stderr


def test_model_to_cpu_is_a_no_op_and_device_property():
    model = fastnn.models.lenet5()
    data = model.flat.data
    assert model.to("cpu") is model and model.flat.data is data and model.device == "cpu"
