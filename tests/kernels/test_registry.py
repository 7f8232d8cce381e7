"""The op registry (every op has reference, cpu and cuda implementations with identical signatures, a test
and a CUDA-tier test that name every function, and PTX-compile coverage) and the process setup done by
``import kernels`` (kernels/_env.py)."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kernels
from kernels import _env

ROOT = Path(kernels.__file__).resolve().parent.parent
OPS = sorted(kernels.OPS)


def _params(fn):
    return list(inspect.signature(getattr(fn, "py_func", fn)).parameters)


def test_registry_is_not_empty():
    assert {"matmul", "im2col", "conv", "pool", "activation", "loss", "optim"} <= set(kernels.OPS)
    for name, op in kernels.OPS.items():
        assert op.name == name and op.functions, name


@pytest.mark.parametrize("name", OPS)
def test_every_backend_implements_every_function(name):
    op = kernels.OPS[name]
    for backend in ("reference", "cpu", "cuda"):
        for fn in op.functions:
            impl = op.implementation(backend, fn)
            assert impl is not None, f"kernels.{backend}.{name}.{fn} is missing"
            assert callable(impl)
            # the backend package re-exports it too (kernels.get(backend).<fn>)
            assert getattr(kernels.get(backend), fn) is impl, f"kernels.{backend} does not export {fn}"


@pytest.mark.parametrize("name", OPS)
def test_signatures_identical(name):
    op = kernels.OPS[name]
    for fn in op.functions:
        ref = _params(op.implementation("reference", fn))
        cpu = _params(op.implementation("cpu", fn))
        cuda = _params(op.implementation("cuda", fn))
        assert ref == cpu, f"{name}.{fn}: reference{ref} != cpu{cpu}"
        assert ref == cuda, f"{name}.{fn}: reference{ref} != cuda{cuda}"


@pytest.mark.parametrize("name", OPS)
def test_test_file_exists_and_mentions_every_function(name):
    op = kernels.OPS[name]
    for test, exact in ((op.test, True), (op.cuda_test_path, False)):
        path = ROOT / test
        assert path.is_file(), f"{name}: test file {test} is missing"
        text = path.read_text()
        for fn in op.functions:
            # the CUDA tier may build names from stems (f"{stem}_forward"); its coverage of every function
            # is also enforced by kernels/samples.py (tests/kernels/test_cuda_ptx_samples.py)
            stem = fn if exact else fn.removesuffix("_forward").removesuffix("_backward")
            assert stem in text, f"{test} never mentions {stem}"


@pytest.mark.parametrize("name", OPS)
def test_status(name):
    status = kernels.OPS[name].status()
    assert set(status) == {"reference", "cpu", "cuda"}
    assert status == {"reference": "ok", "cpu": "ok", "cuda": "ok"}


def test_get_rejects_unknown_backend():
    with pytest.raises(ValueError, match="unknown kernel backend"):
        kernels.get("tpu")


# ------------------------------------------------------------------------- process setup (_env)


def _import_kernels_and_print(env_extra, expr):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "FASTNN_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                        "OMP_NUM_THREADS")}
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", f"import os, kernels; print({expr})"], env=env,
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip()


def test_import_sets_passive_omp_wait_policy():
    # the thread-contention fix (DESIGN §5): OpenMP workers must not spin while BLAS runs
    assert os.environ.get("OMP_WAIT_POLICY") is not None  # this process imported kernels (conftest)
    assert _import_kernels_and_print({}, "os.environ['OMP_WAIT_POLICY']") == "PASSIVE"


def test_import_keeps_user_omp_wait_policy():
    got = _import_kernels_and_print({"OMP_WAIT_POLICY": "ACTIVE"}, "os.environ['OMP_WAIT_POLICY']")
    assert got == "ACTIVE"


def test_thread_budget_sets_numba_threads():
    assert _import_kernels_and_print({"FASTNN_NUM_THREADS": "1"}, "os.environ['NUMBA_NUM_THREADS']") == "1"


def test_scipy_blas_is_single_threaded_numpy_blas_untouched():
    # numba's np.dot runs SciPy's OpenBLAS from every chunk thread: it must be single-threaded, while
    # NumPy's own OpenBLAS keeps its default and the environment is left as the user had it
    expr = ("kernels.BLAS_THREADS, 'OPENBLAS_NUM_THREADS' in os.environ, "
            "sorted((os.path.basename(p['filepath']).split('-')[0], p['num_threads']) "
            "for p in __import__('threadpoolctl').threadpool_info() if p['internal_api'] == 'openblas')")
    got = _import_kernels_and_print({}, expr)
    assert got.startswith("loaded single-threaded False"), got
    assert "('libscipy_openblas', 1)" in got, got
    assert f"('libscipy_openblas64_', {os.cpu_count()})" in got or os.cpu_count() == 1, got


def test_cython_blas_loads_without_executing_scipy_linalg():
    # numba needs only the extension module; scipy/linalg/__init__.py (~0.2 s) runs on first use, and
    # then scipy.linalg looks as after a plain import
    mods = "__import__('sys').modules"
    expr = (f"'scipy.linalg._basic' in {mods}, {mods}['scipy.linalg.cython_blas'].__pyx_capi__['sgemm'] is not None, "
            f"__import__('scipy.linalg').linalg.solve([[2.0]], [4.0])[0], "
            f"{mods}['scipy.linalg'].cython_blas is {mods}['scipy.linalg.cython_blas']")
    assert _import_kernels_and_print({}, expr) == "False True 2.0 True"


def test_optional_cpu_families_load_on_first_use():
    cpu = kernels.get("cpu")
    for family, names in cpu.LAZY_FAMILIES.items():
        module = getattr(cpu, family)
        assert tuple(module.__all__) == names, family
        assert all(getattr(cpu, n) is getattr(module, n) and n in dir(cpu) for n in names), family
    assert not hasattr(cpu, "not_a_kernel")
    # importing the package (what every Backend("cpu") does) leaves them out
    got = _import_kernels_and_print({}, "[f for f in kernels.get('cpu').LAZY_FAMILIES "
                                        "if 'kernels.cpu.' + f in __import__('sys').modules]")
    assert got == "[]", got


def test_user_blas_setting_is_kept():
    got = _import_kernels_and_print({"OPENBLAS_NUM_THREADS": "2"}, "kernels.BLAS_THREADS")
    assert got == "user setting kept"


def test_configure_on_env_dict():
    env = {}
    _env.configure(env)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    env = {"OMP_WAIT_POLICY": "ACTIVE", "FASTNN_NUM_THREADS": "3", "NUMBA_NUM_THREADS": "2"}
    _env.configure(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"
    assert env["NUMBA_NUM_THREADS"] == "2"  # the user's own setting wins
    env = {"FASTNN_NUM_THREADS": "3"}
    _env.configure(env)
    assert env["NUMBA_NUM_THREADS"] == "3"


def test_choose_cache_dir_read_only_package(monkeypatch, tmp_path):
    # root ignores chmod, so simulate a read-only install through os.access
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_env.os, "access", lambda path, mode: False)
    got = _env.choose_cache_dir(tmp_path / "pkg", env={})
    assert got == _env.user_cache_dir()
    if sys.platform.startswith("linux"):
        assert got == tmp_path / "fastnn" / "numba"
    # configure() creates it and points numba at it
    env = {}
    _env.configure(env)
    assert env["NUMBA_CACHE_DIR"] == str(got) and got.is_dir()


def test_choose_cache_dir_writable_package_keeps_numba_default(monkeypatch, tmp_path):
    monkeypatch.setattr(_env.os, "access", lambda path, mode: True)
    assert _env.choose_cache_dir(tmp_path, env={}) is None


def test_choose_cache_dir_respects_numba_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(_env.os, "access", lambda path, mode: False)
    assert _env.choose_cache_dir(tmp_path / "pkg", env={"NUMBA_CACHE_DIR": str(tmp_path / "mine")}) == \
        tmp_path / "mine"
