"""One entry per op: where its reference, CPU and CUDA implementations live and which test covers it.

An op family is one file name in ``reference/``, ``cpu/`` and ``cuda/`` holding every function
listed under ``functions`` (forward and backward). ``tests/kernels/test_registry.py`` fails when an
implementation, a signature match or a test is missing: ``test`` checks reference == cpu (and the
gradients), ``cuda_test`` checks the CUDA kernels against the reference on the simulator
(tests/cuda, its own process), and tests/kernels/test_cuda_ptx_*.py compile them for a real GPU.
Sample arguments for every function (tiny and full size) are in ``kernels/samples.py``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """An op family: its file name, the functions it exports and the test module that checks them."""

    name: str
    functions: tuple[str, ...]
    test: str
    cuda_test: str = ""  # default: tests/cuda/test_<name>.py
    dtypes: tuple[str, ...] = ("float32", "float64")

    @property
    def cuda_test_path(self) -> str:
        return self.cuda_test or f"tests/cuda/test_{self.name}.py"

    def implementation(self, backend: str, function: str):
        """The function object in ``kernels.<backend>.<name>``, or None when missing."""
        try:
            module = importlib.import_module(f"kernels.{backend}.{self.name}")
        except ModuleNotFoundError:
            return None
        return getattr(module, function, None)

    def status(self) -> dict[str, str]:
        """{"reference": "ok"|"missing", "cpu": ..., "cuda": ...}."""
        out = {}
        for backend in ("reference", "cpu", "cuda"):
            found = all(self.implementation(backend, f) is not None for f in self.functions)
            out[backend] = "ok" if found else "missing"
        return out


OPS: dict[str, Op] = {op.name: op for op in (
    Op("matmul", ("linear_forward", "linear_backward", "gemm", "batched_gemm"), "tests/kernels/test_matmul.py"),
    Op("im2col", ("im2col", "col2im"), "tests/kernels/test_conv.py", "tests/cuda/test_conv.py"),
    Op("conv", ("conv2d_forward", "conv2d_backward"), "tests/kernels/test_conv.py"),
    Op("pool", ("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"),
       "tests/kernels/test_pool.py"),
    Op("activation", ("relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
                      "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
                      "step_forward", "step_backward", "elu_forward", "elu_backward", "softplus_forward",
                      "softplus_backward", "gelu_forward", "gelu_backward", "silu_forward", "silu_backward",
                      "softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward"),
       "tests/kernels/test_activation.py"),
    Op("loss", ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "cross_entropy_forward",
                "cross_entropy_backward", "nll_forward", "nll_backward", "mse_forward", "mse_backward",
                "l1_forward", "l1_backward", "bce_forward", "bce_backward", "bce_with_logits_forward",
                "bce_with_logits_backward", "kl_div_forward", "kl_div_backward", "distillation_forward",
                "distillation_backward", "accuracy_count"), "tests/kernels/test_loss.py"),
    Op("dropout", ("dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward", "dropout_mask"),
       "tests/kernels/test_dropout.py"),
    Op("augment", ("shift_forward", "hflip_forward", "rotate_forward", "noise_forward", "mixup_forward"),
       "tests/kernels/test_augment.py"),
    Op("optim", ("sgd_update", "momentum_update", "adagrad_update", "rmsprop_update", "rmsprop_nesterov_update",
                 "adam_update", "adamax_update", "nadam_update"), "tests/kernels/test_optim.py"),
    Op("reduce", ("sumsq", "sum_abs_pow", "absmax", "scale", "clip_value"), "tests/kernels/test_reduce.py"),
    Op("batchnorm", ("batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward"),
       "tests/kernels/test_batchnorm.py"),
    Op("norm", ("layernorm_forward", "layernorm_backward", "instancenorm_forward", "instancenorm_backward",
                "lrn_forward", "lrn_backward"), "tests/kernels/test_norm.py"),
)}
