"""IDX reader/writer, MNIST directory loader and the bundled MNIST subset."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pytest

from fastnn.data import IdxFormatError, load_bundled_mnist, load_mnist_dir, read_idx, write_idx

# (numpy dtype, IDX code, struct format char) -- the IDX spec, written out independently of the module.
DTYPES = [
    (np.uint8, 0x08, "B"),
    (np.int8, 0x09, "b"),
    (np.int16, 0x0B, "h"),
    (np.int32, 0x0C, "i"),
    (np.float32, 0x0D, "f"),
    (np.float64, 0x0E, "d"),
]


def idx_bytes(code: int, shape: tuple[int, ...], fmt: str, values: list) -> bytes:
    """Hand-built IDX file: 00 00 code ndim, big-endian uint32 dims, big-endian payload."""
    return (
        bytes([0, 0, code, len(shape)])
        + struct.pack(f">{len(shape)}I", *shape)
        + struct.pack(f">{len(values)}{fmt}", *values)
    )


def sample(dtype, shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return (rng.standard_normal(shape) * 1e3).astype(dtype)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", [d[0] for d in DTYPES], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 5, 4), (2, 3, 2, 2), (0, 28, 28)])
def test_roundtrip(tmp_path, dtype, suffix, shape):
    a = sample(dtype, shape)
    p = tmp_path / f"a.idx{suffix}"
    write_idx(p, a)
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == shape
    np.testing.assert_array_equal(b, a)
    assert b.flags.writeable and b.flags.c_contiguous
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_roundtrip_non_contiguous_and_big_endian_input(tmp_path):
    a = sample(np.float32, (6, 8))[:, ::2].T  # non-contiguous view
    write_idx(tmp_path / "a.idx", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)
    be = np.arange(12, dtype=">i4").reshape(3, 4) - 5
    write_idx(tmp_path / "b.idx", be)
    out = read_idx(tmp_path / "b.idx")
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, np.arange(12).reshape(3, 4) - 5)


@pytest.mark.parametrize("dtype,code,fmt", DTYPES, ids=[np.dtype(d[0]).name for d in DTYPES])
def test_read_hand_built_bytes(tmp_path, dtype, code, fmt):
    values = {
        np.uint8: [1, 2, 3, 255, 0, 128],
        np.int8: [1, -2, 3, 127, 0, -128],
        np.int16: [1, -2, 3, 1000, 0, -32768],
        np.int32: [1, -2, 3, 2**31 - 1, 0, -(2**31)],
        np.float32: [0.5, -2.25, 3.0, 1e10, 0.0, -0.125],
        np.float64: [0.5, -2.25, 3.0, 1e300, 0.0, -0.1],
    }[dtype]
    data = idx_bytes(code, (2, 3), fmt, values)
    expected = np.array(values, dtype=dtype).reshape(2, 3)
    for name, blob in (("raw.idx", data), ("comp.idx.gz", gzip.compress(data))):
        p = tmp_path / name
        p.write_bytes(blob)
        got = read_idx(p)
        assert got.dtype == np.dtype(dtype) and got.shape == (2, 3)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype,code,fmt", DTYPES, ids=[np.dtype(d[0]).name for d in DTYPES])
def test_write_matches_spec_bytes(tmp_path, dtype, code, fmt):
    a = np.array([[1, 2], [3, 4], [5, 6]], dtype=dtype)
    write_idx(tmp_path / "a.idx", a)
    assert (tmp_path / "a.idx").read_bytes() == idx_bytes(code, (3, 2), fmt, [1, 2, 3, 4, 5, 6])
    write_idx(tmp_path / "a.idx.gz", a)
    assert gzip.decompress((tmp_path / "a.idx.gz").read_bytes()) == idx_bytes(
        code, (3, 2), fmt, [1, 2, 3, 4, 5, 6]
    )


def test_gzip_detected_by_magic_not_name(tmp_path):
    data = idx_bytes(0x08, (4,), "B", [9, 8, 7, 6])
    (tmp_path / "gz_without_suffix").write_bytes(gzip.compress(data))
    (tmp_path / "raw_with_suffix.gz").write_bytes(data)
    np.testing.assert_array_equal(read_idx(tmp_path / "gz_without_suffix"), [9, 8, 7, 6])
    np.testing.assert_array_equal(read_idx(str(tmp_path / "raw_with_suffix.gz")), [9, 8, 7, 6])


def test_write_is_atomic_and_overwrites(tmp_path):
    p = tmp_path / "x.idx.gz"
    write_idx(p, np.zeros((2, 2), np.uint8))
    write_idx(p, np.ones((3,), np.int16))
    np.testing.assert_array_equal(read_idx(p), np.ones(3, np.int16))
    assert sorted(os.listdir(tmp_path)) == ["x.idx.gz"]  # no temp files left behind
    with pytest.raises(TypeError, match="int64"):
        write_idx(p, np.ones(3, np.int64))
    with pytest.raises(ValueError, match="0-D"):
        write_idx(p, np.array(3, np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["x.idx.gz"]
    np.testing.assert_array_equal(read_idx(p), np.ones(3, np.int16))  # a failed write leaves the old file


def test_write_gzip_is_deterministic(tmp_path):
    a = sample(np.uint8, (10, 5))
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


# --------------------------------------------------------------------------- malformed files

GOOD = idx_bytes(0x08, (2, 3), "B", [1, 2, 3, 4, 5, 6])  # 4 + 8 header + 6 payload = 18 bytes


@pytest.mark.parametrize(
    "blob,pattern",
    [
        (GOOD[:-2], r"expected 18 bytes, got 16"),
        (GOOD[:9], r"expected 12 bytes .*got 9"),
        (GOOD + b"\x00\x00\x00", r"3 trailing bytes.*expected 18 bytes, got 21"),
        (b"\x01" + GOOD[1:], r"bad magic.*00 00, got 01 00"),
        (GOOD[:1] + b"\x07" + GOOD[2:], r"bad magic.*got 00 07"),
        (GOOD[:2] + b"\x0a" + GOOD[3:], r"dtype code.*got 0x0A"),
        (GOOD[:3] + b"\x00" + GOOD[4:], r"number of dimensions.*got 0"),
        (b"\x00\x00", r"expected at least 4 bytes, got 2"),
        (b"", r"expected at least 4 bytes, got 0"),
        (gzip.compress(GOOD)[:10] + b"this is not deflate data at all" * 3, r"corrupt gzip"),
        (gzip.compress(GOOD)[:-12], r"corrupt gzip"),
        (gzip.compress(GOOD[:-1]), r"expected 18 bytes, got 17"),
    ],
    ids=[
        "truncated-payload",
        "truncated-header",
        "trailing",
        "magic0",
        "magic1",
        "dtype",
        "ndim0",
        "tiny",
        "empty",
        "gzip-garbage",
        "gzip-truncated",
        "gzip-truncated-payload",
    ],
)
def test_malformed(tmp_path, blob, pattern):
    p = tmp_path / "bad file.idx"
    p.write_bytes(blob)
    with pytest.raises(IdxFormatError, match=pattern) as info:
        read_idx(p)
    assert str(p) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_negative_dimension(tmp_path):
    p = tmp_path / "neg.idx"
    p.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">i", -1))
    with pytest.raises(IdxFormatError, match="negative dimension") as info:
        read_idx(p)
    assert str(p) in str(info.value)


def test_missing_file(tmp_path):
    p = tmp_path / "nope" / "missing-idx3-ubyte"
    with pytest.raises(FileNotFoundError) as info:
        read_idx(p)
    assert str(p) in str(info.value)


# --------------------------------------------------------------------------- MNIST directories


def fake_mnist(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def test_load_mnist_dir_gz_and_raw_names(tmp_path):
    tr_x, tr_y = fake_mnist(30, 1)
    te_x, te_y = fake_mnist(12, 2)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", tr_x)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", tr_y)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", te_x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", te_y)
    x, y = load_mnist_dir(tmp_path)
    np.testing.assert_array_equal(x, tr_x)
    np.testing.assert_array_equal(y, tr_y)
    x, y = load_mnist_dir(str(tmp_path), kind="test")
    assert x.dtype == np.uint8 and y.dtype == np.uint8 and x.shape == (12, 28, 28)
    np.testing.assert_array_equal(x, te_x)
    np.testing.assert_array_equal(y, te_y)


def test_load_mnist_dir_dotted_names(tmp_path):
    x0, y0 = fake_mnist(5)
    write_idx(tmp_path / "t10k-images.idx3-ubyte", x0)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", y0)
    x, y = load_mnist_dir(tmp_path, "test")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_load_mnist_dir_errors(tmp_path):
    x0, y0 = fake_mnist(6)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist_dir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist_dir(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value)
    with pytest.raises(ValueError, match="'validation'"):
        load_mnist_dir(tmp_path, kind="validation")

    img, lbl = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    write_idx(img, x0)
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist_dir(tmp_path)
    write_idx(lbl, y0[:5])
    with pytest.raises(IdxFormatError, match=r"6 images.*5 labels") as info:
        load_mnist_dir(tmp_path)
    assert str(img) in str(info.value) and str(lbl) in str(info.value)
    bad = y0.copy()
    bad[2] = 10
    write_idx(lbl, bad)
    with pytest.raises(IdxFormatError, match=r"0\.\.9, got max 10") as info:
        load_mnist_dir(tmp_path)
    assert str(lbl) in str(info.value)
    write_idx(lbl, y0.astype(np.int32))
    with pytest.raises(IdxFormatError, match="uint8 labels"):
        load_mnist_dir(tmp_path)
    write_idx(lbl, y0)
    write_idx(img, x0.reshape(6, 784))
    with pytest.raises(IdxFormatError, match=r"\(N, 28, 28\).*\(6, 784\)") as info:
        load_mnist_dir(tmp_path)
    assert str(img) in str(info.value)


# --------------------------------------------------------------------------- bundled subset


def readme_sha256() -> dict[str, str]:
    text = (files("fastnn.data") / "mnist5k" / "README.md").read_text()
    return {
        "images": re.search(r"images:\s*([0-9a-f]{64})", text).group(1),
        "labels": re.search(r"labels:\s*([0-9a-f]{64})", text).group(1),
    }


def test_bundled_mnist():
    x, y = load_bundled_mnist()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (5000,) and y.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [500] * 10)
    assert x.min() == 0 and x.max() == 255
    assert 0.09 < x.mean() / 255 < 0.17  # MNIST pixel mean is about 0.13
    # every image is a different, non-blank digit
    assert (x.reshape(5000, -1).max(axis=1) > 100).all()
    assert len(np.unique(x.reshape(5000, -1), axis=0)) == 5000


def test_bundled_files_match_readme_sha256():
    root = files("fastnn.data") / "mnist5k"
    sha = readme_sha256()
    assert hashlib.sha256((root / "mnist5k-images-idx3-ubyte.gz").read_bytes()).hexdigest() == sha["images"]
    assert hashlib.sha256((root / "mnist5k-labels-idx1-ubyte.gz").read_bytes()).hexdigest() == sha["labels"]


def copy_bundled(dst: Path) -> Path:
    root = files("fastnn.data") / "mnist5k"
    for name in ("mnist5k-images-idx3-ubyte.gz", "mnist5k-labels-idx1-ubyte.gz"):
        (dst / name).write_bytes((root / name).read_bytes())
    return dst


def test_bundled_directory_override_and_tamper(tmp_path):
    copy_bundled(tmp_path)
    x0, y0 = load_bundled_mnist()
    x, y = load_bundled_mnist(directory=tmp_path)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)

    # A valid IDX file with one label changed: parses fine, so only the checksum can catch it.
    lbl = tmp_path / "mnist5k-labels-idx1-ubyte.gz"
    tampered = y0.copy()
    tampered[0] = 9
    write_idx(lbl, tampered)
    with pytest.raises(ValueError, match="sha256") as info:
        load_bundled_mnist(directory=tmp_path)
    assert str(lbl) in str(info.value) and readme_sha256()["labels"] in str(info.value)

    copy_bundled(tmp_path)
    img = tmp_path / "mnist5k-images-idx3-ubyte.gz"
    blob = bytearray(img.read_bytes())
    blob[-100] ^= 0x01
    img.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256") as info:
        load_bundled_mnist(directory=tmp_path)
    assert str(img) in str(info.value)

    img.unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_bundled_mnist(directory=tmp_path)
    assert str(img) in str(info.value)


def test_bundled_readme_ships_with_attribution():
    text = (files("fastnn.data") / "mnist5k" / "README.md").read_text()
    assert "CC BY-SA 3.0" in text and "LeCun" in text
    shared = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "README.md"
    if shared.exists():  # the original next to the repo: the package copy is verbatim
        assert text == shared.read_text()


def test_data_package_does_not_import_numba():
    # Import fastnn.data under a bare ``fastnn`` package object, so only the data module is judged
    # (fastnn/__init__.py may legitimately pull in the kernels).
    root = Path(__file__).resolve().parents[3]
    code = (
        "import sys, types; pkg = types.ModuleType('fastnn'); "
        f"pkg.__path__ = [{str(root / 'fastnn')!r}]; sys.modules['fastnn'] = pkg; "
        "import fastnn.data; fastnn.data.load_bundled_mnist(); "
        "sys.exit(1 if 'numba' in sys.modules else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr or "fastnn.data imported numba"


def test_bundled_file_is_plain_idx(tmp_path):
    # The package files are ordinary gzip IDX files: the generic reader reads a copy of them.
    with as_file(files("fastnn.data") / "mnist5k" / "mnist5k-images-idx3-ubyte.gz") as src:
        shutil.copy(src, tmp_path / "imgs")
    x = read_idx(tmp_path / "imgs")
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
