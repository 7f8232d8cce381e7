"""IDX file format (the MNIST container): read, write, and load an MNIST-style directory.

Format: two zero bytes, a dtype code, the number of dimensions, then one big-endian uint32 per
dimension, then the payload in big-endian C order. Files may be gzip-compressed (detected by the
gzip magic bytes, not by the file name).
"""

from __future__ import annotations

import errno
import gzip
import os
import secrets
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IdxFormatError", "load_mnist_dir", "parse_idx", "read_idx", "write_idx"]

# IDX dtype code -> big-endian NumPy dtype.
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_TO_CODE: dict[np.dtype, int] = {dt.newbyteorder("="): code for code, dt in _CODE_TO_DTYPE.items()}
_GZIP_MAGIC = b"\x1f\x8b"
MAX_NDIM = 8  # the format allows up to 255; real IDX files have 1..4 dimensions


class IdxFormatError(ValueError):
    """An IDX file is malformed (bad magic, dtype code, dimensions, size or compression)."""


def _fail(source: str, what: str) -> IdxFormatError:
    return IdxFormatError(f"{source}: {what}")


def parse_idx(data: bytes | bytearray | memoryview, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (raw or gzip) into a native-endian array; ``source`` names it in errors."""
    data = bytes(data) if isinstance(data, memoryview) else data
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(source, f"corrupt gzip stream ({type(exc).__name__}: {exc})") from exc
    if len(data) < 4:
        raise _fail(source, f"too short for an IDX header: expected at least 4 bytes, got {len(data)}")
    if data[0] != 0 or data[1] != 0:
        raise _fail(source, f"bad magic: expected first two bytes 00 00, got {data[0]:02x} {data[1]:02x}")
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        valid = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise _fail(source, f"bad dtype code: expected one of {valid}, got 0x{code:02X}")
    if not 1 <= ndim <= MAX_NDIM:
        raise _fail(source, f"bad number of dimensions: expected 1..{MAX_NDIM}, got {ndim}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise _fail(
            source, f"truncated header: expected {header_len} bytes for {ndim} dimensions, got {len(data)}"
        )
    shape = struct.unpack(f">{ndim}i", data[4:header_len])
    if any(d < 0 for d in shape):
        raise _fail(source, f"negative dimension in shape {shape}: expected sizes >= 0")
    dtype = _CODE_TO_DTYPE[code]
    count = 1
    for d in shape:
        count *= d
    expected = header_len + count * dtype.itemsize
    if len(data) < expected:
        raise _fail(
            source,
            f"truncated payload for shape {shape} dtype {dtype.name}: "
            f"expected {expected} bytes, got {len(data)}",
        )
    if len(data) > expected:
        raise _fail(
            source,
            f"{len(data) - expected} trailing bytes after payload for shape {shape} dtype {dtype.name}: "
            f"expected {expected} bytes, got {len(data)}",
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=header_len)
    # astype(copy=True): native byte order, writable, independent of the input buffer.
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of the stored shape and dtype."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "IDX file not found", str(path)) from None
    return parse_idx(data, str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends with ``.gz``.

    Atomic: the data goes to a temporary file in the same directory, is fsync'ed, then renamed.
    """
    path = Path(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=")
    if key not in _DTYPE_TO_CODE:
        valid = ", ".join(dt.name for dt in _DTYPE_TO_CODE)
        raise TypeError(f"{path}: cannot write dtype {array.dtype} as IDX: expected one of {valid}")
    if not 1 <= array.ndim <= MAX_NDIM:
        raise ValueError(f"{path}: cannot write a {array.ndim}-D array as IDX: expected 1..{MAX_NDIM} dims")
    if any(d > 0x7FFFFFFF for d in array.shape):
        raise ValueError(f"{path}: dimension too large for IDX in shape {array.shape}: expected < 2**31")
    header = bytes([0, 0, _DTYPE_TO_CODE[key], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=key.newbyteorder(">")).tobytes()

    directory = path.parent
    tmp = None
    for _ in range(100):
        candidate = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            # 0o666 masked by the umask, like a plainly created file (mkstemp would force 0o600).
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        tmp = candidate
        break
    else:  # pragma: no cover - 100 random-name collisions
        raise FileExistsError(f"{path}: could not create a temporary file in {directory}")
    try:
        with os.fdopen(fd, "wb") as f:
            if path.name.endswith(".gz"):
                # mtime=0 and no stored file name: identical input gives identical bytes.
                with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                    gz.write(header)
                    gz.write(payload)
            else:
                f.write(header)
                f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    """Persist a rename (best effort; not supported on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


_KIND_PREFIX = {"train": "train", "test": "t10k"}


def _find(directory: Path, stem_variants: list[str]) -> Path:
    tried = []
    for stem in stem_variants:
        for name in (stem, stem + ".gz"):
            candidate = directory / name
            if candidate.is_file():
                return candidate
            tried.append(name)
    raise FileNotFoundError(errno.ENOENT, f"no IDX file found (tried {', '.join(tried)})", str(directory))


def load_mnist_dir(directory: str | os.PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST-format images (uint8, (N, 28, 28)) and labels (uint8, (N,)) from ``directory``.

    ``kind`` is "train" (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``) or
    "test" (``t10k-...``); the dotted spelling ``train-images.idx3-ubyte`` is accepted too. Works for
    MNIST and Fashion-MNIST.
    """
    if kind not in _KIND_PREFIX:
        raise ValueError(f"kind: expected 'train' or 'test', got {kind!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, "MNIST directory not found", str(directory))
    p = _KIND_PREFIX[kind]
    img_path = _find(directory, [f"{p}-images-idx3-ubyte", f"{p}-images.idx3-ubyte"])
    lbl_path = _find(directory, [f"{p}-labels-idx1-ubyte", f"{p}-labels.idx1-ubyte"])
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IdxFormatError(
            f"{img_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxFormatError(
            f"{lbl_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{img_path} has {len(images)} images but {lbl_path} has {len(labels)} labels: "
            "expected equal counts"
        )
    if labels.size and labels.max() > 9:
        bad = int(np.count_nonzero(labels > 9))
        raise IdxFormatError(
            f"{lbl_path}: expected labels in 0..9, got max {int(labels.max())} ({bad} labels out of range)"
        )
    return images, labels
