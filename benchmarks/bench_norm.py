"""asv: normalization layers, forward + backward in training mode, fastnn vs PyTorch CPU (when installed).

BatchNorm2d at (64, 6, 28, 28) (LeNet's first conv output) and (64, 64, 16, 16), LayerNorm at (64, 512),
InstanceNorm2d and LocalResponseNorm at (64, 16, 14, 14), the BatchNorm kernels alone, and a conv-BN-ReLU
model against its ``fold_batchnorm`` version in evaluation. ``setup`` runs every body once, so numba
compilation (or cache loading) is never timed.

``python benchmarks/bench_norm.py`` prints the side-by-side table (one process, interleaved repeats,
torch at fastnn's thread count): the ratio column is torch time / fastnn time.
"""

import numpy as np

import fastnn  # noqa: F401  (first: thread budget and numba cache before torch / numba start)
from fastnn import nn
from fastnn.nn.utils import fold_batchnorm

LAYERS = {
    "bn2d_64x6x28x28": (lambda: nn.BatchNorm2d(6), (64, 6, 28, 28), "BatchNorm2d"),
    "bn2d_64x64x16x16": (lambda: nn.BatchNorm2d(64), (64, 64, 16, 16), "BatchNorm2d"),
    "bn1d_64x120": (lambda: nn.BatchNorm1d(120), (64, 120), "BatchNorm1d"),
    "layernorm_64x512": (lambda: nn.LayerNorm(512), (64, 512), "LayerNorm"),
    "instancenorm_64x16x14x14": (lambda: nn.InstanceNorm2d(16, affine=True), (64, 16, 14, 14), "InstanceNorm2d"),
    "lrn_64x16x14x14": (lambda: nn.LocalResponseNorm(5), (64, 16, 14, 14), "LocalResponseNorm"),
}
TORCH_ARGS = {"BatchNorm2d": lambda shape: (shape[1],), "BatchNorm1d": lambda shape: (shape[1],),
              "LayerNorm": lambda shape: (shape[-1],), "InstanceNorm2d": lambda shape: (shape[1],),
              "LocalResponseNorm": lambda shape: (5,)}
TORCH_KW = {"InstanceNorm2d": {"affine": True}}


def _threads():
    import numba

    return numba.get_num_threads()


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)


def make_fastnn(name):
    make, shape, _ = LAYERS[name]
    layer = make()
    x, dy = _data(shape)

    def step():
        layer.forward(x, True)
        layer.backward(dy)

    step()
    return step


def make_torch(name):
    import torch

    torch.set_num_threads(_threads())
    _, shape, cls = LAYERS[name]
    layer = getattr(torch.nn, cls)(*TORCH_ARGS[cls](shape), **TORCH_KW.get(cls, {}))
    x, dy = _data(shape)
    tx, tdy = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

    def step():
        tx.grad = None
        layer(tx).backward(tdy)

    step()
    return step


class NormLayers:
    """fastnn layer forward + backward (training)."""

    params = (list(LAYERS),)
    param_names = ["layer"]

    def setup(self, name):
        self.step = make_fastnn(name)

    def time_forward_backward(self, name):
        self.step()


class TorchNormLayers:
    """The same layers in PyTorch (skipped when torch is not installed)."""

    params = (list(LAYERS),)
    param_names = ["layer"]

    def setup(self, name):
        try:
            self.step = make_torch(name)
        except ImportError as e:
            raise NotImplementedError("torch is not installed") from e

    def time_forward_backward(self, name):
        self.step()


class BatchNormKernels:
    """The three batchnorm kernels at BatchNorm2d(64) on (64, 64, 16, 16), fused ReLU off."""

    def setup(self):
        cpu = fastnn.backend.CPU.k
        self.k = cpu
        x, dy = _data((64, 64, 256))
        c = 64
        self.x, self.dy = x, dy
        self.y, self.dx = np.empty_like(x), np.empty_like(x)
        self.mean, self.invstd = np.empty(c, np.float32), np.empty(c, np.float32)
        self.rm, self.rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        self.g, self.b = np.ones(c, np.float32), np.zeros(c, np.float32)
        self.dg, self.db = np.zeros(c, np.float32), np.zeros(c, np.float32)
        self.time_batchnorm_forward_train()
        self.time_batchnorm_forward_eval()
        self.time_batchnorm_backward()

    def time_batchnorm_forward_train(self):
        self.k.batchnorm_forward_train(self.y, self.mean, self.invstd, self.rm, self.rv, self.x, self.g, self.b, 1e-5,
                                       0.1, True, 0)

    def time_batchnorm_forward_eval(self):
        self.k.batchnorm_forward_eval(self.y, self.mean, self.invstd, self.x, self.g, self.b, self.rm, self.rv, 1e-5,
                                      0)

    def time_batchnorm_backward(self):
        self.k.batchnorm_backward(self.dx, self.dg, self.db, self.dy, self.x, self.y, self.mean, self.invstd, self.g,
                                  0, True)


class NormKernels:
    """layernorm at (64, 512) (serial: below the layer's parallel threshold), instancenorm and lrn (size 5) at
    (64, 16, 196): the kernels alone."""

    def setup(self):
        k = fastnn.backend.CPU.k
        self.k = k
        f32 = np.float32
        self.lx, self.ldy = _data((64, 512))
        self.ly, self.ldx = np.empty_like(self.lx), np.empty_like(self.lx)
        self.lmean, self.linv = np.empty(64, f32), np.empty(64, f32)
        self.lg, self.lb = np.ones(512, f32), np.zeros(512, f32)
        self.ldg, self.ldb, self.lws = np.zeros(512, f32), np.zeros(512, f32), np.empty((1, 2, 512), f32)
        self.x, self.dy = _data((64, 16, 196))
        self.y, self.dx, self.scale, self.ws = (np.empty_like(self.x) for _ in range(4))
        self.imean, self.iinv = np.empty((64, 16), f32), np.empty((64, 16), f32)
        self.g, self.b, self.dg, self.db = np.ones(16, f32), np.zeros(16, f32), np.zeros(16, f32), np.zeros(16, f32)
        self.rm, self.rv, self.iws = np.zeros(16, f32), np.ones(16, f32), np.empty((64, 16, 2), f32)
        for name in dir(self):
            if name.startswith("time_"):
                getattr(self, name)()

    def time_layernorm_forward(self):
        self.k.layernorm_forward(self.ly, self.lmean, self.linv, self.lx, self.lg, self.lb, 1e-5, 1)

    def time_layernorm_backward(self):
        self.k.layernorm_backward(self.ldx, self.ldg, self.ldb, self.lws, self.ldy, self.lx, self.lmean, self.linv,
                                  self.lg, 1)

    def time_instancenorm_forward(self):
        self.k.instancenorm_forward(self.y, self.imean, self.iinv, self.rm, self.rv, self.x, self.g, self.b, 1e-5,
                                    0.1, True)

    def time_instancenorm_backward(self):
        self.k.instancenorm_backward(self.dx, self.dg, self.db, self.iws, self.dy, self.x, self.imean, self.iinv,
                                     self.g)

    def time_lrn_forward(self):
        self.k.lrn_forward(self.y, self.scale, self.x, 5, 1e-4, 0.75, 1.0)

    def time_lrn_backward(self):
        self.k.lrn_backward(self.dx, self.ws, self.dy, self.x, self.y, self.scale, 5, 1e-4, 0.75, 1.0)


def _conv_bn_model():
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(), nn.Linear(120, 10))
    x = np.random.default_rng(0).standard_normal((64, 1, 28, 28), dtype=np.float32)
    model.forward(x, True)
    return model.eval(), x


class FoldedInference:
    """Evaluation forward of a LeNet-style conv-BN-ReLU model, unfolded vs fold_batchnorm'd."""

    params = (["unfolded", "folded"],)
    param_names = ["model"]

    def setup(self, which):
        model, self.x = _conv_bn_model()
        self.model = model if which == "unfolded" else fold_batchnorm(model)
        self.model.forward(self.x, False)

    def time_eval_forward(self, which):
        self.model.forward(self.x, False)


def main():
    from fastnn.bench import Settings, time_interleaved

    settings = Settings(repeats=7, target_s=0.2, warmup=3)
    print(f"numba threads {_threads()}; median of {settings.repeats} interleaved repeats; ratio = torch / fastnn")
    print(f"{'fwd+bwd (training)':<28} {'fastnn ms':>10} {'torch ms':>10} {'ratio':>7}")
    import statistics

    for name in LAYERS:
        samples, _ = time_interleaved({"fastnn": make_fastnn(name), "torch": make_torch(name)}, settings)
        f, t = (statistics.median(samples[k]) * 1e3 for k in ("fastnn", "torch"))
        print(f"{name:<28} {f:>10.3f} {t:>10.3f} {t / f:>6.2f}x")
    model, x = _conv_bn_model()
    folded = fold_batchnorm(model)
    samples, _ = time_interleaved({"unfolded": lambda: model.forward(x, False),
                                   "folded": lambda: folded.forward(x, False)}, settings)
    u, f = (statistics.median(samples[k]) * 1e3 for k in ("unfolded", "folded"))
    print(f"{'LeNet-BN eval, folded':<28} {f:>10.3f} {u:>10.3f} {u / f:>6.2f}x  (unfolded in the torch column)")


if __name__ == "__main__":
    main()
