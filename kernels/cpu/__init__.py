"""Numba CPU kernels: the same file names, function names and argument order as kernels.reference.

The op families every network uses are imported with the package; the optional ones (augmentation,
batch norm, dropout, layer/instance norm and LRN) on first use of one of their names: creating a
cached numba dispatcher costs ~0.3 ms (numba checks its cache directory for each), and these
families hold ~50 of the package's ~240, which a LeNet-5 start-up would otherwise pay for.
"""

import importlib

from kernels.cpu._jit import num_threads  # noqa: F401
from kernels.cpu.activation import *  # noqa: F403
from kernels.cpu.conv import *  # noqa: F403
from kernels.cpu.elementwise import *  # noqa: F403
from kernels.cpu.im2col import *  # noqa: F403
from kernels.cpu.loss import *  # noqa: F403
from kernels.cpu.matmul import *  # noqa: F403
from kernels.cpu.optim import *  # noqa: F403
from kernels.cpu.pool import *  # noqa: F403
from kernels.cpu.reduce import *  # noqa: F403

#: optional family -> its ``__all__`` (tests/kernels/test_registry.py checks that they agree)
LAZY_FAMILIES = {
    "augment": ("shift_forward", "hflip_forward", "rotate_forward", "noise_forward", "mixup_forward"),
    "batchnorm": ("batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward"),
    "dropout": ("dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward", "dropout_mask"),
    "norm": ("layernorm_forward", "layernorm_backward", "instancenorm_forward", "instancenorm_backward",
             "lrn_forward", "lrn_backward"),
}
_FAMILY_OF = {name: family for family, names in LAZY_FAMILIES.items() for name in names}


def __getattr__(name: str):
    if name in LAZY_FAMILIES:
        return importlib.import_module(f"kernels.cpu.{name}")
    if name not in _FAMILY_OF:
        raise AttributeError(f"module 'kernels.cpu' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kernels.cpu.{_FAMILY_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *LAZY_FAMILIES, *_FAMILY_OF})
