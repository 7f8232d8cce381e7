"""asv: every CPU kernel in ``kernels.OPS`` at LeNet-5 shapes (batch 64, float32), plus the thread-budget check.

Each class's ``setup`` allocates the buffers and calls the kernel once, so numba compilation (or
loading from the cache) is never timed. The flat-buffer families (optim, reduce) are parameterized
over every kernel the registry lists, with arguments built from each kernel's signature.
``track_kernels_without_benchmark`` counts the functions in ``kernels.OPS`` that no benchmark here
covers (should stay 0; the names go to stderr).
"""

import inspect
import sys
import time

import numpy as np

import kernels  # first: thread budget (OMP_WAIT_POLICY) and numba cache dir
from fastnn.layers.conv import CHUNK_BYTES
from kernels.codes import ACT_RELU
from kernels.shapes import conv2d_columns_per_sample, conv2d_workspace_shapes

cpu = kernels.get("cpu")
F32 = np.float32
N = 64

# (C_in, H, W, C_out, K, pad) of LeNet-5's two convolutions
CHUNKS = cpu.num_threads()  # one batch chunk per thread, as the layers do
# (C, H, W, O, K, padding): LeNet-5's two convolutions, and issue 6's 32->64 k3 16x16 (Winograd path)
CONVS = {"conv1": (1, 28, 28, 6, 5, 2), "conv2": (6, 14, 14, 16, 5, 0), "conv_32_64_k3": (32, 16, 16, 64, 3, 1)}


def _rand(rng, *shape):
    return rng.standard_normal(shape, dtype=F32)


def _conv_buffers(name):
    """Inputs, outputs and workspaces of one convolution of CONVS (workspace shapes: kernels.shapes)."""
    rng = np.random.default_rng(0)
    c, h, w, o, k, p = CONVS[name]
    oh, ow = h + 2 * p - k + 1, w + 2 * p - k + 1
    per_sample = c * k * k * conv2d_columns_per_sample((N, c, h, w), (o, c, k, k), 1, 1, p, p) * 4
    group = max(1, CHUNK_BYTES // per_sample)   # cache-sized blocks, as fastnn.nn.Conv2d chooses them
    col_shape, ws_y_shape, xp_shape, dw_shape = conv2d_workspace_shapes((N, c, h, w), (o, c, k, k), 1, 1, p, p,
                                                                        CHUNKS, group)
    return {"x": _rand(rng, N, c, h, w), "w": _rand(rng, o, c, k, k) * 0.1, "b": _rand(rng, o),
            "y": np.empty((N, o, oh, ow), F32), "col": np.empty(col_shape, F32), "ws_y": np.empty(ws_y_shape, F32),
            "ws_xp": np.empty(xp_shape, F32), "dy": _rand(rng, N, o, oh, ow), "dx": np.empty((N, c, h, w), F32),
            "dw": np.zeros((o, c, k, k), F32), "db": np.zeros(o, F32), "ws_dcol": np.empty(col_shape, F32),
            "ws_g": np.empty(ws_y_shape, F32), "ws_dw": np.empty(dw_shape, F32),
            "ws_dxp": np.empty(xp_shape, F32), "k": k, "p": p,
            # the standard im2col layout, (C*KH*KW, N*OH*OW)
            "im2col": np.empty((c * k * k, N * oh * ow), F32)}


class Matmul:
    """linear 400 -> 120 (LeNet's first fully connected layer), fused ReLU epilogue."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.x, self.w, self.b = _rand(rng, N, 400), _rand(rng, 120, 400) * 0.05, _rand(rng, 120)
        self.y, self.dy = np.empty((N, 120), F32), _rand(rng, N, 120)
        self.dx, self.dw, self.db = np.empty((N, 400), F32), np.zeros((120, 400), F32), np.zeros(120, F32)
        self.ws_g, self.ws_dw = np.empty((N, 120), F32), np.empty(cpu.linear_workspace_shape(N, 400, 120, CHUNKS), F32)
        self.wt, self.c = np.ascontiguousarray(self.w.T), np.zeros((N, 120), F32)
        self.a3, self.b3, self.c3 = _rand(rng, N, 16, 16), _rand(rng, N, 16, 16), np.empty((N, 16, 16), F32)
        for name in dir(self):
            if name.startswith("time_"):
                getattr(self, name)()

    def time_linear_forward(self):
        cpu.linear_forward(self.y, self.x, self.w, self.b, ACT_RELU, 0.0, CHUNKS)

    def time_linear_backward(self):
        cpu.linear_backward(self.dx, self.dw, self.db, self.ws_g, self.ws_dw, self.dy, self.x, self.w, self.y,
                            ACT_RELU, 0.0, True, CHUNKS)

    def time_gemm(self):
        """c = 1.0 * x @ w.T + 0.5 * c at the same shape."""
        cpu.gemm(self.c, self.x, self.wt, 1.0, 0.5)

    def time_batched_gemm(self):
        """64 products of 16x16 matrices."""
        cpu.batched_gemm(self.c3, self.a3, self.b3)


class Im2col:
    params = list(CONVS)
    param_names = ["layer"]

    def setup(self, layer):
        self.b = _conv_buffers(layer)
        self.time_im2col(layer)
        self.time_col2im(layer)

    def time_im2col(self, layer):
        b = self.b
        cpu.im2col(b["im2col"], b["x"], b["k"], b["k"], 1, 1, b["p"], b["p"])

    def time_col2im(self, layer):
        b = self.b
        cpu.col2im(b["dx"], b["im2col"], b["k"], b["k"], 1, 1, b["p"], b["p"])


class Conv:
    """conv2d forward (im2col + GEMM + bias/ReLU epilogue) and backward (dx only for conv2, as in training)."""

    params = list(CONVS)
    param_names = ["layer"]

    def setup(self, layer):
        self.b = _conv_buffers(layer)
        self.time_conv2d_forward(layer)
        self.time_conv2d_backward(layer)

    def time_conv2d_forward(self, layer):
        b = self.b
        cpu.conv2d_forward(b["y"], b["col"], b["ws_y"], b["ws_xp"], b["x"], b["w"], b["b"], 1, 1, b["p"], b["p"],
                           ACT_RELU, 0.0, CHUNKS)

    def time_conv2d_backward(self, layer):
        b = self.b
        cpu.conv2d_backward(b["dx"], b["dw"], b["db"], b["ws_dcol"], b["ws_g"], b["ws_dw"], b["ws_dxp"], b["dy"],
                            b["col"], b["x"], b["w"], b["y"], 1, 1, b["p"], b["p"], ACT_RELU, 0.0, layer != "conv1",
                            CHUNKS)


class Pool:
    """2x2 pooling of conv1's output (64, 6, 28, 28)."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.x, self.dy = _rand(rng, N, 6, 28, 28), _rand(rng, N, 6, 14, 14)
        self.y, self.idx = np.empty((N, 6, 14, 14), F32), np.empty((N, 6, 14, 14), np.int32)
        self.dx = np.empty_like(self.x)
        self.time_maxpool2d_forward()  # first: fills idx, which maxpool2d_backward scatters through
        self.time_maxpool2d_backward()
        self.time_avgpool2d_forward()
        self.time_avgpool2d_backward()

    def time_maxpool2d_forward(self):
        cpu.maxpool2d_forward(self.y, self.idx, self.x, 2, 2, 2, 2, 0, 0)

    def time_maxpool2d_backward(self):
        cpu.maxpool2d_backward(self.dx, self.dy, self.idx, 2, 2, 2, 2, 0, 0)

    def time_avgpool2d_forward(self):
        cpu.avgpool2d_forward(self.y, self.x, 2, 2, 2, 2, 0, 0, True)

    def time_avgpool2d_backward(self):
        cpu.avgpool2d_backward(self.dx, self.dy, 2, 2, 2, 2, 0, 0, True)


class Activation:
    """Stand-alone elementwise kernels over conv1's output, flattened (64*6*28*28 = 301,056 elements)."""

    def setup(self):
        rng = np.random.default_rng(0)
        size = N * 6 * 28 * 28
        self.x, self.dy = _rand(rng, size), _rand(rng, size)
        self.y, self.dx = np.empty(size, F32), np.empty(size, F32)
        for name in dir(self):
            if name.startswith("time_"):
                getattr(self, name)()

    def time_relu_forward(self):
        cpu.relu_forward(self.y, self.x)

    def time_relu_backward(self):
        cpu.relu_backward(self.dx, self.dy, self.x)

    def time_leaky_relu_forward(self):
        cpu.leaky_relu_forward(self.y, self.x, 0.01)

    def time_leaky_relu_backward(self):
        cpu.leaky_relu_backward(self.dx, self.dy, self.x, 0.01)

    def time_sigmoid_forward(self):
        cpu.sigmoid_forward(self.y, self.x)

    def time_sigmoid_backward(self):
        cpu.sigmoid_backward(self.dx, self.dy, self.x)

    def time_tanh_forward(self):
        cpu.tanh_forward(self.y, self.x)

    def time_tanh_backward(self):
        cpu.tanh_backward(self.dx, self.dy, self.x)


class Loss:
    """Softmax cross-entropy over (64, 10) logits."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.logits, self.labels = _rand(rng, N, 10), rng.integers(0, 10, N)
        self.losses, self.probs, self.dlogits = np.empty(N, F32), np.empty((N, 10), F32), np.empty((N, 10), F32)
        self.count = np.zeros(1, np.int64)
        self.time_softmax_cross_entropy_forward()
        self.time_softmax_cross_entropy_backward()
        self.time_accuracy_count()

    def time_softmax_cross_entropy_forward(self):
        cpu.softmax_cross_entropy_forward(self.losses, self.probs, self.logits, self.labels)

    def time_softmax_cross_entropy_backward(self):
        cpu.softmax_cross_entropy_backward(self.dlogits, self.probs, self.labels, 1.0 / N)

    def time_accuracy_count(self):
        cpu.accuracy_count(self.count, self.logits, self.labels)


# Scalar arguments of the flat-buffer kernels (optimizers, reductions), by argument name (typical values).
FLAT_SCALARS = {"momentum": 0.9, "dampening": 0.0, "nesterov": False, "maximize": False, "first_step": False,
                "eps": 1e-8, "alpha": 0.99, "centered": False, "eps_inside": False, "beta1": 0.9, "beta2": 0.999,
                "bc1": 0.1, "bc2": 0.001, "amsgrad": False, "decoupled": False, "c_grad": 0.1, "c_avg": 0.9,
                "p": 1.5, "s": 1.0, "c": 0.5}
FLAT_SIZE = 61_706  # LeNet-5's parameters


def _flat_kernels(family: str) -> list[str]:
    """Every kernel of an op family in kernels.OPS, plus its ``_parallel`` twin where the CPU backend has one."""
    if family not in kernels.OPS:
        return []
    names = []
    for f in kernels.OPS[family].functions:
        names += [f] + ([f + "_parallel"] if hasattr(cpu, f + "_parallel") else [])
    return names


def _flat_args(name: str, size: int = FLAT_SIZE) -> tuple:
    """Arguments of a kernel over the flat parameter/gradient buffer, built from its signature (the
    kernels/reference/optim.py and reduce.py convention): buffers before ``seg_start`` (``out``: a
    float64 scalar slot; ``params``/``x``/``grads``: data; other names: zeroed optimizer state), then
    the segment table (one segment covering everything), then scalars looked up in FLAT_SCALARS."""
    fn = getattr(cpu, name)
    arg_names = list(inspect.signature(getattr(fn, "py_func", fn)).parameters)
    rng = np.random.default_rng(0)
    first_seg = arg_names.index("seg_start")
    args = []
    for i, arg in enumerate(arg_names):
        if i < first_seg:
            if arg == "out":
                args.append(np.zeros(1))
            elif arg in ("params", "x"):
                args.append(_rand(rng, size))
            elif arg == "grads":
                args.append(_rand(rng, size) * 1e-2)
            else:
                args.append(np.zeros(size, F32))
        elif arg in ("seg_start", "seg_end"):
            args.append(np.array([0 if arg == "seg_start" else size], np.int64))
        elif arg.startswith("seg_"):
            args.append(np.array([1e-3 if arg == "seg_lr" else 0.0]))
        elif arg in FLAT_SCALARS:
            args.append(FLAT_SCALARS[arg])
        else:
            raise NotImplementedError(f"bench_kernels: no benchmark value for argument {arg!r} of {name}")
    return tuple(args)


class Optim:
    """One fused update over LeNet-5's 61,706 parameters (one segment), every optimizer kernel."""

    params = _flat_kernels("optim")
    param_names = ["kernel"]

    def setup(self, kernel):
        self.fn, self.args = getattr(cpu, kernel), _flat_args(kernel)
        self.fn(*self.args)

    def time_update(self, kernel):
        self.fn(*self.args)


class Reduce:
    """Gradient-clipping reductions / rescaling over a 61,706-element gradient buffer (one segment)."""

    params = _flat_kernels("reduce") or ["none"]
    param_names = ["kernel"]

    def setup(self, kernel):
        if kernel == "none":
            raise NotImplementedError("no reduce kernels in kernels.OPS")
        self.fn, self.args = getattr(cpu, kernel), _flat_args(kernel)
        self.fn(*self.args)

    def time_reduce(self, kernel):
        self.fn(*self.args)


class ThreadContention:
    """DESIGN §5 / kernels/_env.py: a numba prange region followed by a 256x400x120 SGEMM.

    With OpenMP's default (active) wait policy numba's idle workers spin and starve OpenBLAS: the
    pair took ~8 ms instead of ~0.35 ms. ``track_pair_over_parts`` is t(pair) / (t(prange) + t(GEMM)),
    each a median of 51 calls: about 1 when the fix holds, 10-40 when it regresses.
    """

    def setup(self):
        rng = np.random.default_rng(0)
        size = N * 6 * 28 * 28
        self.x, self.y = _rand(rng, size), np.empty(size, F32)
        self.a, self.bm = _rand(rng, 256, 400), _rand(rng, 400, 120)
        self.c = np.empty((256, 120), F32)
        self.time_prange_then_gemm()

    def _prange(self):
        cpu.relu_forward(self.y, self.x)

    def _gemm(self):
        np.dot(self.a, self.bm, out=self.c)

    def time_prange_then_gemm(self):
        self._prange()
        self._gemm()

    def time_gemm_alone(self):
        self._gemm()

    def track_pair_over_parts(self):
        def median(fn, reps=51):
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            return sorted(ts)[reps // 2]

        prange, gemm = median(self._prange), median(self._gemm)
        return median(self.time_prange_then_gemm) / (prange + gemm)

    track_pair_over_parts.unit = "ratio"


class Augment:
    """Batch augmentation of 64 MNIST-sized images (fastnn.data.augment draws the parameters)."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.x, self.out = _rand(rng, N, 1, 28, 28), np.empty((N, 1, 28, 28), F32)
        self.d = rng.integers(-2, 3, (2, N)).astype(np.int64)
        self.flip, self.angle = rng.integers(0, 2, N).astype(np.int64), rng.uniform(-0.2, 0.2, N)
        self.noise = _rand(rng, N, 1, 28, 28)
        self.y, self.out_y = np.eye(10, dtype=F32)[rng.integers(0, 10, N)], np.empty((N, 10), F32)
        self.perm = rng.permutation(N).astype(np.int64)
        for name in dir(self):
            if name.startswith("time_"):
                getattr(self, name)()

    def time_shift_forward(self):
        cpu.shift_forward(self.out, self.x, self.d[0], self.d[1])

    def time_hflip_forward(self):
        cpu.hflip_forward(self.out, self.x, self.flip)

    def time_rotate_forward(self):
        cpu.rotate_forward(self.out, self.x, self.angle)

    def time_noise_forward(self):
        cpu.noise_forward(self.out, self.x, self.noise, 0.1)

    def time_mixup_forward(self):
        cpu.mixup_forward(self.out, self.out_y, self.x, self.y, self.perm, 0.7)


def _missing_kernels() -> list[str]:
    from benchmarks.bench_layer_kernels import Activations, Dropout, Losses
    from benchmarks.bench_norm import BatchNormKernels, NormKernels

    classes = (Matmul, Im2col, Conv, Pool, Activation, Loss, Augment, BatchNormKernels, NormKernels, Activations,
               Losses, Dropout)
    covered = {name[5:] for cls in classes for name in dir(cls)
               if name.startswith("time_")} | set(Optim.params) | set(Reduce.params)
    return [f for op in kernels.OPS.values() for f in op.functions if f not in covered]


def track_kernels_without_benchmark():
    missing = _missing_kernels()
    if missing:
        print(f"benchmarks/bench_kernels.py: no time_* benchmark for kernels {missing}", file=sys.stderr)
    return len(missing)


track_kernels_without_benchmark.unit = "kernels"
