"""Save and load models: safetensors (or .npz) with the architecture in its metadata, written atomically;
weights-only files with PyTorch's keys to move weights to and from PyTorch.

One file reproduces the model: ``save(model, path)`` stores every state_dict tensor plus
``{"fastnn_architecture": <json>, "fastnn_version": ...}``; ``load(path)`` rebuilds the Sequential
and loads the weights. Writes go to a temporary file in the same directory, are fsynced, then
renamed over the target, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from fastnn.layers.base import Module
from fastnn.model import Sequential

ARCH_KEY = "fastnn_architecture"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via temp file + fsync + rename; errors name the path."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise OSError(f"cannot write {path}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_layer(spec: dict, where: str = "architecture layer") -> Module:
    """One layer from its ``{"type": name, "config": layer.config()}`` spec; containers (Sequential, and layers
    with a ``from_config(config, build_layer)`` classmethod such as Residual) rebuild their children."""
    from fastnn.nn import LAYERS

    cls = LAYERS.get(spec.get("type"))
    if cls is None:
        raise ValueError(f"{where}: unknown layer type {spec.get('type')!r}; known: {sorted(LAYERS)}")
    cfg = spec.get("config", {})
    if cls is Sequential:
        return build(cfg)
    if hasattr(cls, "from_config"):
        return cls.from_config(cfg, build_layer)
    return cls(**cfg)


def build(architecture: dict) -> Sequential:
    """Rebuild a Sequential from ``model.config()``."""
    layers = [build_layer(spec, f"architecture layer {i}") for i, spec in enumerate(architecture.get("layers", []))]
    return Sequential(*layers, fuse=architecture.get("fuse", True))


NPZ_META = "__fastnn_metadata__"


def _is_npz(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _write_tensors(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, str]) -> None:
    """safetensors, or .npz when the path ends in .npz (metadata as a JSON byte array); atomic."""
    if str(path).endswith(".npz"):
        buf = io.BytesIO()
        extra = {NPZ_META: np.frombuffer(json.dumps(meta).encode(), np.uint8)} if meta else {}
        np.savez(buf, **tensors, **extra)
        atomic_write_bytes(path, buf.getvalue())
    else:
        atomic_write_bytes(path, st_save(tensors, metadata=meta))


def read_tensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a safetensors or .npz file (npz read without pickle); clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if _is_npz(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                tensors = {k: z[k] for k in z.files}
            meta = json.loads(bytes(tensors.pop(NPZ_META)).decode()) if NPZ_META in tensors else {}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: corrupt .npz file ({e})") from e
        return tensors, meta
    meta = read_metadata(path)
    try:
        return st_load(path.read_bytes()), meta
    except SafetensorError as e:
        raise ValueError(f"{path}: corrupt safetensors file ({e})") from e


def save(model: Sequential, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write the model's weights and architecture (safetensors, or .npz by suffix), atomically."""
    from fastnn import __version__

    meta = {ARCH_KEY: json.dumps(model.config()), "fastnn_version": __version__, **(metadata or {})}
    # np.require keeps 0-d arrays 0-d (num_batches_tracked); np.ascontiguousarray would make them (1,)
    tensors = {k: np.require(v, requirements="C") for k, v in model.state_dict().items()}
    _write_tensors(path, tensors, meta)


def save_state_dict(model: Sequential, path: str | os.PathLike) -> None:
    """Weights only, with PyTorch's keys, as safetensors (torch: safetensors.torch.load_file) or .npz."""
    _write_tensors(path, {k: np.require(v, requirements="C") for k, v in model.state_dict().items()}, {})


def load_state_dict(model: Sequential, path: str | os.PathLike, strict: bool = True) -> Sequential:
    """Load weights saved from PyTorch (safetensors.torch.save_file(model.state_dict(), path), or an .npz
    of the same keys) into the same architecture; returns the model."""
    tensors, _ = read_tensors(path)
    try:
        model.load_state_dict(tensors, strict=strict)
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}: weights do not match the model: {e}") from e
    return model


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata dict of a safetensors (header only) or fastnn .npz file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if _is_npz(path):
        return read_tensors(path)[1]
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: not a safetensors file (only {len(head)} bytes)")
        n = int.from_bytes(head, "little")
        if n > os.path.getsize(path) - 8:
            raise ValueError(f"{path}: corrupt safetensors header (length {n} exceeds the file size)")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: corrupt safetensors header ({e})") from e
    return header.get("__metadata__", {}) or {}


def load(path: str | os.PathLike) -> Sequential:
    """Rebuild the model saved by ``save`` (architecture + weights; safetensors or .npz)."""
    tensors, meta = read_tensors(path)
    if ARCH_KEY not in meta:
        raise ValueError(f"{path}: no {ARCH_KEY!r} in the file's metadata; was it written by fastnn.io.save? "
                         f"(weights-only files: fastnn.io.load_state_dict(model, path))")
    model = build(json.loads(meta[ARCH_KEY]))
    try:
        model.load_state_dict(tensors)
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}: weights do not match the saved architecture: {e}") from e
    return model
