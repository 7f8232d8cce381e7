"""Save and load models: safetensors with the architecture in its metadata, written atomically.

One file reproduces the model: ``save(model, path)`` stores every state_dict tensor plus
``{"fastnn_architecture": <json>, "fastnn_version": ...}``; ``load(path)`` rebuilds the Sequential
and loads the weights. Writes go to a temporary file in the same directory, are fsynced, then
renamed over the target, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

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


def build(architecture: dict) -> Sequential:
    """Rebuild a Sequential from ``model.config()``."""
    from fastnn.nn import LAYERS

    layers = []
    for i, spec in enumerate(architecture.get("layers", [])):
        cls = LAYERS.get(spec.get("type"))
        if cls is None:
            raise ValueError(f"architecture layer {i}: unknown layer type {spec.get('type')!r}; "
                             f"known: {sorted(LAYERS)}")
        cfg = spec.get("config", {})
        layers.append(build(cfg) if cls is Sequential else cls(**cfg))
    return Sequential(*layers, fuse=architecture.get("fuse", True))


def save(model: Sequential, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write the model's weights and architecture to a safetensors file (atomically)."""
    from fastnn import __version__

    meta = {ARCH_KEY: json.dumps(model.config()), "fastnn_version": __version__, **(metadata or {})}
    tensors = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    atomic_write_bytes(path, st_save(tensors, metadata=meta))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata dict of a safetensors file (header only)."""
    path = Path(path)
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
    """Rebuild the model saved by ``save`` (architecture + weights)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    meta = read_metadata(path)
    if ARCH_KEY not in meta:
        raise ValueError(f"{path}: no {ARCH_KEY!r} in the safetensors metadata; was it written by fastnn.io.save?")
    try:
        tensors = st_load(path.read_bytes())
    except SafetensorError as e:
        raise ValueError(f"{path}: corrupt safetensors file ({e})") from e
    model = build(json.loads(meta[ARCH_KEY]))
    try:
        model.load_state_dict(tensors)
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}: weights do not match the saved architecture: {e}") from e
    return model
