"""The two numba decorators every CPU kernel uses (DESIGN §2): cached, NaN-preserving fastmath.

``jit`` compiles a serial kernel, ``pjit`` a ``prange``-parallel one; a kernel that needs both gets
two functions (numba's cache key ignores decorator options).
"""

from numba import njit

FASTMATH = {"contract", "reassoc"}

jit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
pjit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True, parallel=True)
