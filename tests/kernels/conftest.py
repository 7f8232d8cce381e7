"""Shared setup for the kernel tests: make ``gradcheck`` (this directory) and ``kernels`` importable."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import kernels  # noqa: E402,F401  (configures threads and numba's cache before numba is imported)
