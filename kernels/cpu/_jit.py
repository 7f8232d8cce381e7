"""The two numba decorators every CPU kernel uses (DESIGN §2): cached, NaN-preserving fastmath.

``jit`` compiles a serial kernel, ``pjit`` a ``prange``-parallel one; a kernel that needs both gets
two functions (numba's cache key ignores decorator options).
"""

from numba import get_num_threads, njit

FASTMATH = {"contract", "reassoc"}

jit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
pjit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True, parallel=True)


def num_threads() -> int:
    """numba's current thread count: the number of chunks kernels split a batch into."""
    return get_num_threads()
