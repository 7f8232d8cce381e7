"""Start-up stays light: the LeNet-5 first-step script of ``fastnn bench --startup`` (fresh process) does not
import what that path does not need (fastnn/bench.py FASTNN_FIRST_STEP; DESIGN §5 settings are tested
in tests/kernels/test_registry.py)."""

import subprocess
import sys
from pathlib import Path

from fastnn.bench import FASTNN_FIRST_STEP

ROOT = Path(__file__).resolve().parents[2]

# what importing it would add to a warm start-up: numba.cuda / torch / matplotlib (heavy, optional),
# scipy.special and scipy/linalg/__init__.py (~0.2 s: SciPy's array-API layer imports numpy.f2py),
# and fastnn modules the step never calls
NOT_IMPORTED = ("numba.cuda", "torch", "matplotlib", "scipy.special", "scipy.linalg._basic", "numpy.f2py",
                "fastnn.optim.lr_scheduler", "fastnn.train", "kernels.cpu.batchnorm", "kernels.cpu.dropout",
                "kernels.cpu.norm", "kernels.cpu.augment")


def test_first_training_step_imports_only_what_it_needs():
    code = FASTNN_FIRST_STEP + f"\nimport sys\nprint([m for m in {NOT_IMPORTED!r} if m in sys.modules])\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_startup_probe_times_the_code_not_the_interpreter_exit():
    from fastnn.bench import _run_child

    code = "import atexit, time\natexit.register(time.sleep, 1.0)\nprint('KiB', 123)"
    seconds, out = _run_child(code, {})
    assert out.split()[-1] == "123"
    assert 0 < seconds < 1.0, seconds  # the 1 s sleep at exit is after the probe's end mark
