"""fastnn models and their PyTorch twins with identical weights, plus a shared batch stream and step."""

import numpy as np
import torch

import fastnn


def torch_lenet5() -> torch.nn.Sequential:
    t = torch.nn
    return t.Sequential(
        t.Conv2d(1, 6, 5, padding=2), t.ReLU(), t.MaxPool2d(2),
        t.Conv2d(6, 16, 5), t.ReLU(), t.MaxPool2d(2), t.Flatten(),
        t.Linear(400, 120), t.ReLU(), t.Linear(120, 84), t.ReLU(), t.Linear(84, 10))


def torch_mlp(hidden: int = 64) -> torch.nn.Sequential:
    t = torch.nn
    return t.Sequential(t.Flatten(), t.Linear(784, hidden), t.ReLU(), t.Linear(hidden, 10))


def make_pair(arch: str, seed: int = 0, hidden: int = 64):
    """fastnn and torch models with identical weights (fastnn's init, copied into torch)."""
    fastnn.manual_seed(seed)
    if arch == "lenet5":
        fm, tm = fastnn.models.lenet5(), torch_lenet5()
    else:
        fm, tm = fastnn.models.mlp(hidden=hidden), torch_mlp(hidden)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in fm.state_dict().items()})
    return fm, tm


def batches(n_steps: int, batch: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, batch))
            for _ in range(n_steps)]


def fastnn_step(model, opt, loss_fn, x, y) -> float:
    opt.zero_grad()
    loss = loss_fn(model.forward(x, True), y)
    model.backward(loss_fn.backward(), input_grad=False)
    opt.step()
    return loss
