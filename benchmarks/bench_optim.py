"""asv: one optimizer step (fastnn.optim, the fused flat-buffer kernel) for SGD-momentum, Adam and RMSprop at
61,706 (LeNet-5), 1M and 10M parameters, the same step in torch.optim (foreach and fused) when torch is
installed, the global-norm clip, and the achieved bandwidth at 10M as a fraction of NumPy's copy bandwidth.

``setup`` builds the buffers and runs one step, so numba compilation (or cache loading) is never timed.
``fastnn bench --only optim`` prints the same comparison side by side in one process.
"""

import time

import numpy as np

import fastnn  # noqa: F401  (first: thread budget and numba cache before torch / numba start)
from fastnn import optim
from fastnn.nn.utils import clip_grad_norm_
from fastnn.params import FlatParams, Parameter

SIZES = [61_706, 1_000_000, 10_000_000]
RULES = ["sgd_momentum", "adam", "rmsprop"]
# bytes moved per parameter per step (float32): reads + writes of params, grads and state
BYTES_PER_PARAM = {"sgd_momentum": 5 * 4, "adam": 7 * 4, "rmsprop": 5 * 4}


def _shapes(n):
    """LeNet-5's parameter shapes at 61,706; else an MLP-like list (one big matrix + vectors) of n elements."""
    if n == 61_706:
        return [p.shape for p in fastnn.models.lenet5().parameters()]
    rows = n // 1000
    return [(rows, 999), (rows,), (n - rows * 1000,)]


def make_fastnn(rule, n, seed=0):
    rng = np.random.default_rng(seed)
    params = [Parameter(rng.standard_normal(s, dtype=np.float32) * 0.05) for s in _shapes(n)]
    flat = FlatParams(params)
    flat.grad[:] = rng.standard_normal(flat.size, dtype=np.float32) * 1e-2
    if rule == "sgd_momentum":
        opt = optim.SGD(params, lr=1e-3, momentum=0.9)
    elif rule == "adam":
        opt = optim.Adam(params, lr=1e-3)
    else:
        opt = optim.RMSprop(params, lr=1e-3)
    opt.step()
    return opt


def make_torch(rule, n, impl, seed=0):
    import torch

    rng = np.random.default_rng(seed)
    ts = []
    for s in _shapes(n):
        t = torch.from_numpy(rng.standard_normal(s, dtype=np.float32) * 0.05).requires_grad_()
        t.grad = torch.from_numpy(rng.standard_normal(s, dtype=np.float32) * 1e-2)
        ts.append(t)
    kw = {impl: True}
    if rule == "sgd_momentum":
        opt = torch.optim.SGD(ts, lr=1e-3, momentum=0.9, **kw)
    elif rule == "adam":
        opt = torch.optim.Adam(ts, lr=1e-3, **kw)
    else:
        if impl == "fused":
            raise NotImplementedError("torch.optim.RMSprop has no fused implementation")
        opt = torch.optim.RMSprop(ts, lr=1e-3, **kw)
    opt.step()
    return opt


class OptimizerStep:
    params = (RULES, SIZES)
    param_names = ["rule", "n_params"]
    timeout = 300

    def setup(self, rule, n):
        self.opt = make_fastnn(rule, n)

    def time_step(self, rule, n):
        self.opt.step()

    def track_gbytes_per_s(self, rule, n):
        reps = max(3, int(2e7 // n))
        best = min(_seconds(self.opt.step, reps) for _ in range(3))
        return BYTES_PER_PARAM[rule] * n / best / 1e9

    track_gbytes_per_s.unit = "GB/s"


class TorchStep:
    """The same steps in torch.optim (skipped when torch is not installed)."""

    params = (RULES, SIZES, ["foreach", "fused"])
    param_names = ["rule", "n_params", "impl"]
    timeout = 300

    def setup(self, rule, n, impl):
        try:
            import torch

            torch.set_num_threads(fastnn_threads())
        except ImportError as e:
            raise NotImplementedError("torch is not installed") from e
        self.opt = make_torch(rule, n, impl)

    def time_step(self, rule, n, impl):
        self.opt.step()


class Bandwidth:
    """fastnn's step at 10M parameters as a fraction of the machine's copy bandwidth (NumPy, same process)."""

    params = (RULES,)
    param_names = ["rule"]
    timeout = 300

    def setup(self, rule):
        self.opt = make_fastnn(rule, 10_000_000)

    def track_fraction_of_stream(self, rule):
        stream = stream_bandwidth()
        best = min(_seconds(self.opt.step, 3) for _ in range(3))
        return BYTES_PER_PARAM[rule] * 10_000_000 / best / 1e9 / stream

    track_fraction_of_stream.unit = "fraction"


class ClipGradNorm:
    params = (SIZES,)
    param_names = ["n_params"]

    def setup(self, n):
        self.opt = make_fastnn("sgd_momentum", n)
        self.params_ = self.opt.flat.params
        clip_grad_norm_(self.params_, 1e9)

    def time_clip_grad_norm(self, n):
        clip_grad_norm_(self.params_, 1e9)


def fastnn_threads():
    import numba

    return numba.get_num_threads()


def _seconds(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def stream_bandwidth():
    """The best NumPy stream bandwidth (copy / add, one and all numba threads) in GB/s: fastnn.bench's measurement."""
    from fastnn.bench import stream_bandwidth as measure

    return max(measure(threads=fastnn_threads()).values())
