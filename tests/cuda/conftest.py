"""Setup for the CUDA tier: every CUDA kernel against the NumPy reference, on the simulator in CI.

Run as its own process (see tests/conftest.py). Implicit host<->device copies are errors: launchers
reject host arrays (kernels/cuda/_launch.require_device) and numba's copy warning is raised here.
Helpers: ``dev(a)`` copies a host array to the device, ``host(d)`` copies it back.
"""

import os
import sys
from pathlib import Path

import pytest

if "numba" in sys.modules and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and \
        os.environ.get("FASTNN_TEST_CUDA") != "1":
    pytest.exit("tests/cuda must run in their own process with NUMBA_ENABLE_CUDASIM=1 set before numba is "
                "imported: NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda", returncode=2)

# tiny test grids are fine: numba's low-occupancy warning would otherwise fail every test on a real GPU
os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for p in (str(HERE), str(HERE.parent / "kernels")):
    if p not in sys.path:
        sys.path.insert(0, p)
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))


import kernels  # noqa: E402,F401  (thread budget and cache dir before numba starts)


def pytest_configure(config):
    # numba's implicit-copy warning (numba-cuda's own NumbaPerformanceWarning class) is an error here; the
    # simulator runs the uint64 hash arithmetic of dropout_mask in NumPy scalars, where wraparound warns
    config.addinivalue_line("filterwarnings", "error:.*copy overhead.*:numba.cuda.core.errors.NumbaPerformanceWarning")
    config.addinivalue_line("filterwarnings", "ignore:overflow encountered:RuntimeWarning")
