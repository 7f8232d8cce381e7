"""The CUDA path end to end on the (simulated) device: model.to("cuda"), a 2-step training run equal to the
CPU run, fit/evaluate with device batches, state_dict round trips, clear errors for host inputs."""

import numpy as np
import pytest

import fastnn
import fastnn.gpucheck
from fastnn import nn, optim
from fastnn.backend import get_backend, is_device_array
from fastnn.gpucheck import tiny_cnn, training_parity

CUDA = get_backend("cuda")


def _batch(n=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 8, 8), dtype=np.float32), rng.integers(0, classes, n).astype(np.int64)


def test_two_training_steps_equal_the_cpu_run():
    rows = training_parity(tiny=True)
    assert rows and all(r.ok for r in rows), [r.detail for r in rows if not r.ok]


def test_adam_amsgrad_clipping_and_label_smoothing_match_cpu():
    x, y = _batch()
    results = []
    for device in ("cpu", "cuda"):
        model = tiny_cnn().to(device)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1).to(device)
        opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True, weight_decay=0.01)
        xd = model.backend.to_device(x)
        for _ in range(2):
            opt.zero_grad()
            loss = loss_fn(model.forward(xd, True), y)
            model.backward(loss_fn.backward(), input_grad=False)
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
        results.append((loss, fastnn.backend.to_numpy(model.flat.data)))
    (l_cpu, w_cpu), (l_gpu, w_gpu) = results
    assert abs(l_cpu - l_gpu) < 1e-4
    np.testing.assert_allclose(w_gpu, w_cpu, rtol=1e-4, atol=1e-5)


def test_to_cuda_moves_parameters_and_state_dict_comes_back_to_host():
    model = tiny_cnn()
    before = model.state_dict()
    model.to("cuda")
    assert model.device == "cuda" and is_device_array(model.flat.data)
    assert all(is_device_array(p.data) and is_device_array(p.grad) for p in model.parameters())
    bn = model[1]
    assert is_device_array(bn.running_mean) and is_device_array(bn.running_var)
    after = model.state_dict()
    assert list(after) == list(before)
    for k in before:
        assert isinstance(after[k], np.ndarray)
        np.testing.assert_array_equal(after[k], before[k])
    changed = {k: v + 1 if v.dtype.kind == "f" else v for k, v in before.items()}
    model.load_state_dict(changed)
    np.testing.assert_array_equal(model.state_dict()["0.weight"], before["0.weight"] + 1)
    model.to("cpu")
    assert isinstance(model.flat.data, np.ndarray)
    np.testing.assert_array_equal(model.state_dict()["1.running_var"], before["1.running_var"] + 1)


def test_host_input_to_a_cuda_model_is_a_clear_error():
    model = tiny_cnn().to("cuda")
    x, _ = _batch()
    with pytest.raises(ValueError, match=r"Conv2d at model\[0\]: expected a device array"):
        model.forward(x, True)


def test_fit_and_evaluate_on_cuda_match_cpu():
    # one training step, then validation in eval mode (batch norm on the running statistics the step updated)
    x, y = _batch(4, seed=3)
    histories = []
    for device in ("cpu", "cuda"):
        model = tiny_cnn().to(device)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        hist = fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), val=(x, y), epochs=1, batch_size=4,
                          progress=False)
        histories.append([hist[k][0] for k in ("loss", "accuracy", "val_loss", "val_accuracy")])
    np.testing.assert_allclose(np.array(histories[1], float), np.array(histories[0], float), rtol=1e-4, atol=1e-5)


def test_dropout_on_cuda_uses_the_counter_rng_and_is_seeded():
    x = CUDA.to_device(np.ones((4, 50), np.float32))
    layers = [nn.Dropout(0.5, rng=np.random.default_rng(7)).to("cuda") for _ in range(2)]
    a, b = (fastnn.backend.to_numpy(d.forward(x, True)) for d in layers)
    np.testing.assert_array_equal(a, b)  # same seed -> same masks
    assert set(np.unique(a)) <= {0.0, 2.0} and 0.2 < (a == 0).mean() < 0.8
    c = fastnn.backend.to_numpy(layers[0].forward(x, True))
    assert not np.array_equal(a, c)  # the next draw differs


def test_check_command_tiny_passes_on_the_simulator():
    # `fastnn check --device cuda --tiny` (one option variant per kernel here, to keep the tier short)
    lines = []
    assert fastnn.gpucheck.run_check(tiny=True, out=lines.append, seeds=(0,)) == 0, lines
    assert lines[1].startswith("parity with the CPU kernels:") and "timing skipped" in lines[-1]
