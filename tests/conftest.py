"""The CUDA tier (tests/cuda) runs in its own pytest process: NUMBA_ENABLE_CUDASIM must be set before
numba is imported, and the CPU tests import numba first. ``python -m pytest`` skips that directory
unless the simulator (or a real GPU, FASTNN_TEST_CUDA=1) was asked for on the command line:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda
"""

import os

collect_ignore = [] if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or os.environ.get("FASTNN_TEST_CUDA") == "1" \
    else ["cuda"]
