"""asv: start-up in fresh interpreters (timeraw_: the returned code runs in a new process, its imports timed).

* warm: ``import fastnn`` -> first finished LeNet-5 training step at batch 64, kernels loaded from
  numba's on-disk cache (``setup`` runs the step once in a subprocess to fill the cache);
* cold: the same with ``NUMBA_CACHE_DIR`` pointed at a fresh temporary directory (created in the
  timeraw setup code, removed at exit): every kernel the step uses is compiled.
"""

import subprocess
import sys

from fastnn.bench import FASTNN_FIRST_STEP

_COLD_SETUP = """
import atexit, os, shutil, tempfile
_cache = tempfile.mkdtemp(prefix="fastnn-asv-cold-")
atexit.register(shutil.rmtree, _cache, True)
os.environ["NUMBA_CACHE_DIR"] = _cache
"""


def _prime_cache():
    subprocess.run([sys.executable, "-c", FASTNN_FIRST_STEP], check=True)


def timeraw_import_fastnn():
    return "import fastnn"


def timeraw_warm_startup():
    return FASTNN_FIRST_STEP


timeraw_warm_startup.setup = _prime_cache
timeraw_warm_startup.repeat = (3, 10, 30.0)


def timeraw_cold_compile():
    return FASTNN_FIRST_STEP, _COLD_SETUP


timeraw_cold_compile.repeat = (1, 3, 120.0)
timeraw_cold_compile.warmup_time = 0
timeraw_cold_compile.timeout = 900
