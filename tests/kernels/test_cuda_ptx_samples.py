"""Every CUDA launcher in kernels.OPS compiles for a real GPU (PTX, sm_80) with the argument types of its
samples (kernels/samples.py: every function, three option variants, float32 and float64), no GPU needed."""

import numpy as np
import pytest
from cuda_ptx import dev, ptx_launches  # noqa: F401

import kernels
from kernels import samples

CUDA = kernels.get("cuda")
FUNCTIONS = [fn for _, fn in samples.functions()]


def test_samples_cover_the_registry():
    registered = {fn for op in kernels.OPS.values() for fn in op.functions}
    assert registered <= set(FUNCTIONS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_launcher_compiles(ptx_launches, fn, dtype):  # noqa: F811
    for seed in (0, 1, 2):
        args = samples.sample(fn, "tiny", dtype, seed, backend="cuda").args
        getattr(CUDA, fn)(*[dev(a) if isinstance(a, np.ndarray) else a for a in args])
    assert ptx_launches, f"{fn} launched no kernel"
