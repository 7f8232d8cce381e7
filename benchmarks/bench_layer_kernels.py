"""asv timings of the issue-4 kernels: the extra activations, the losses and dropout (CPU backend).

Shapes: elementwise ops on conv1's output size (64*6*28*28 values), softmax over (256, 1000), losses on
a (64, 10) batch of logits, dropout on (64, 6, 28, 28) (Dropout2d: 384 channel masks).
"""

import numpy as np

import kernels

cpu = kernels.get("cpu")
F32 = np.float32
ELEMENTS = 64 * 6 * 28 * 28


def _setup_all(obj):
    for name in dir(obj):
        if name.startswith("time_"):
            getattr(obj, name)()


class Activations:
    def setup(self):
        rng = np.random.default_rng(0)
        self.x, self.dy = rng.standard_normal(ELEMENTS, dtype=F32), rng.standard_normal(ELEMENTS, dtype=F32)
        self.y, self.dx = np.empty(ELEMENTS, F32), np.empty(ELEMENTS, F32)
        self.z = rng.standard_normal((256, 1000), dtype=F32)
        self.p, self.dz, self.dp = np.empty_like(self.z), rng.standard_normal((256, 1000), dtype=F32), np.empty_like(
            self.z)
        cpu.softmax_forward(self.p, self.z)
        _setup_all(self)

    def time_step_forward(self):
        cpu.step_forward(self.y, self.x)

    def time_step_backward(self):
        cpu.step_backward(self.dx, self.dy, True)

    def time_elu_forward(self):
        cpu.elu_forward(self.y, self.x, 1.0)

    def time_elu_backward(self):
        cpu.elu_backward(self.dx, self.dy, self.x, 1.0)

    def time_softplus_forward(self):
        cpu.softplus_forward(self.y, self.x, 1.0, 20.0)

    def time_softplus_backward(self):
        cpu.softplus_backward(self.dx, self.dy, self.x, 1.0, 20.0)

    def time_gelu_forward(self):
        cpu.gelu_forward(self.y, self.x, False)

    def time_gelu_backward(self):
        cpu.gelu_backward(self.dx, self.dy, self.x, False)

    def time_silu_forward(self):
        cpu.silu_forward(self.y, self.x)

    def time_silu_backward(self):
        cpu.silu_backward(self.dx, self.dy, self.x)

    def time_softmax_forward(self):
        cpu.softmax_forward(self.p, self.z)

    def time_softmax_backward(self):
        cpu.softmax_backward(self.dp, self.dz, self.p)

    def time_log_softmax_forward(self):
        cpu.log_softmax_forward(self.p, self.z)

    def time_log_softmax_backward(self):
        cpu.log_softmax_backward(self.dp, self.dz, self.p)


class Losses:
    def setup(self):
        rng = np.random.default_rng(0)
        n, k = 64, 10
        self.z = rng.standard_normal((n, k), dtype=F32)
        self.t = rng.standard_normal((n, k), dtype=F32)
        self.u = rng.uniform(0.05, 0.95, (n, k)).astype(F32)
        self.labels = rng.integers(0, k, n)
        self.weight = np.ones(k, F32)
        self.pos_weight = np.full(k, 2.0, F32)
        self.losses_n, self.losses_nk = np.empty(n, F32), np.empty((n, k), F32)
        self.probs, self.d = np.empty((n, k), F32), np.empty((n, k), F32)
        self.soft_s, self.soft_t = np.empty((n, k), F32), np.empty((n, k), F32)
        self.dloss_n = np.ones(n, F32)
        # the elementwise losses work on flat arrays
        self.z1, self.t1, self.u1 = self.z.reshape(-1), self.t.reshape(-1), self.u.reshape(-1)
        self.losses1, self.d1, self.dloss1 = np.empty(n * k, F32), np.empty(n * k, F32), np.ones(n * k, F32)
        _setup_all(self)

    def time_cross_entropy_forward(self):
        cpu.cross_entropy_forward(self.losses_n, self.probs, self.z, self.labels, self.weight, -100, 0.1)

    def time_cross_entropy_backward(self):
        cpu.cross_entropy_backward(self.d, self.probs, self.labels, self.weight, self.dloss_n, -100, 0.1)

    def time_nll_forward(self):
        cpu.nll_forward(self.losses_n, self.z, self.labels, self.weight, -100)

    def time_nll_backward(self):
        cpu.nll_backward(self.d, self.labels, self.weight, self.dloss_n, -100)

    def time_mse_forward(self):
        cpu.mse_forward(self.losses1, self.z1, self.t1)

    def time_mse_backward(self):
        cpu.mse_backward(self.d1, self.z1, self.t1, self.dloss1)

    def time_l1_forward(self):
        cpu.l1_forward(self.losses1, self.z1, self.t1)

    def time_l1_backward(self):
        cpu.l1_backward(self.d1, self.z1, self.t1, self.dloss1)

    def time_bce_forward(self):
        cpu.bce_forward(self.losses1, self.u1, self.u1)

    def time_bce_backward(self):
        cpu.bce_backward(self.d1, self.u1, self.u1, self.dloss1)

    def time_bce_with_logits_forward(self):
        cpu.bce_with_logits_forward(self.losses_nk, self.z, self.u, self.pos_weight)

    def time_bce_with_logits_backward(self):
        cpu.bce_with_logits_backward(self.d, self.z, self.u, self.pos_weight, self.dloss1)

    def time_kl_div_forward(self):
        cpu.kl_div_forward(self.losses1, self.z1, self.u1, False)

    def time_kl_div_backward(self):
        cpu.kl_div_backward(self.d1, self.u1, self.dloss1, False)

    def time_distillation_forward(self):
        cpu.distillation_forward(self.losses_n, self.probs, self.soft_s, self.soft_t, self.z, self.t, self.labels,
                                 2.0, 0.5)

    def time_distillation_backward(self):
        cpu.distillation_backward(self.d, self.probs, self.soft_s, self.soft_t, self.labels, self.dloss_n, 2.0, 0.5)


class Dropout:
    def setup(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal(ELEMENTS, dtype=F32)
        self.y, self.dx = np.empty_like(self.x), np.empty_like(self.x)
        self.mask = (rng.random(ELEMENTS) > 0.5).astype(np.uint8)
        self.x2 = self.x.reshape(64 * 6, 28 * 28)
        self.y2, self.dx2 = np.empty_like(self.x2), np.empty_like(self.x2)
        self.mask2 = (rng.random(64 * 6) > 0.5).astype(np.uint8)
        _setup_all(self)

    def time_dropout_forward(self):
        cpu.dropout_forward(self.y, self.mask, self.x, 2.0)

    def time_dropout_backward(self):
        cpu.dropout_backward(self.dx, self.x, self.mask, 2.0)

    def time_dropout2d_forward(self):
        cpu.dropout2d_forward(self.y2, self.mask2, self.x2, 2.0)

    def time_dropout2d_backward(self):
        cpu.dropout2d_backward(self.dx2, self.x2, self.mask2, 2.0)

    def time_dropout_mask(self):
        cpu.dropout_mask(self.mask, 0.5, 1234, 7)
