"""The layer contract (DESIGN §4): explicit forward(x, training) / backward(dy) -> dx, no autograd.

Layers keep the inputs/outputs backward needs, accumulate into their parameters' ``grad`` views and
reuse their output/workspace buffers across calls with the same input shape: the arrays that
``forward``/``backward`` return are valid until the layer's next call. ``layer(x)`` returns a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from fastnn.backend import CPU, Backend, assign, get_backend, to_numpy
from fastnn.params import FlatParams, Parameter


class Module:
    """Base class of every layer and of Sequential."""

    _device_arrays: tuple[str, ...] = ()  # constant array attributes that move with ``to(device)``

    def __init__(self) -> None:
        self.training = True
        self.backend: Backend = CPU
        self.label = type(self).__name__
        self._params: dict[str, Parameter] = {}
        self._buffers: dict[str, np.ndarray] = {}

    # --- compute -------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} must define forward(x, training)")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} must define backward(dy)")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.backend.clone(self.forward(x, self.training))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the output for an input of ``input_shape`` (validates it)."""
        raise TypeError(f"{type(self).__name__} must define output_shape")

    # --- buffers -------------------------------------------------------------------------------
    def _buffer(self, key: str, shape: tuple[int, ...], dtype=np.float32, zero: bool = False) -> np.ndarray:
        """A workspace kept across calls; reallocated only when the shape changes."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self.backend.zeros(shape, dtype) if zero else self.backend.empty(shape, dtype)
            self._buffers[key] = buf
        return buf

    def _check_input(self, x: np.ndarray, expected: str, ok: Callable[[], bool]) -> None:
        """Raise a ValueError naming this layer, the expected and the actual input (``ok`` tests the shape)."""
        if not self.backend.is_array(x):
            where = "a NumPy array" if not self.backend.is_cuda else "a device array (backend.to_device(x))"
            raise ValueError(f"{self.label}: expected {where} {expected}, got {type(x).__name__}")
        if x.dtype != np.float32:
            raise ValueError(f"{self.label}: expected float32 input {expected}, got dtype {x.dtype} "
                             f"(convert with x.astype(np.float32))")
        if not ok():
            raise ValueError(f"{self.label}: expected input of shape {expected}, got {tuple(x.shape)}")

    def _check_grad(self, dy: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Validate the upstream gradient against the last forward's output shape; returns it C-contiguous."""
        if not self.backend.is_array(dy) or dy.dtype != np.float32 or dy.shape != tuple(shape):
            raise ValueError(f"{self.label}.backward: expected a float32 gradient of shape {tuple(shape)} (the last "
                             f"forward's output), got {getattr(dy, 'dtype', type(dy).__name__)} "
                             f"{getattr(dy, 'shape', '')}")
        return self.backend.contiguous(dy)

    # --- parameters and state ----------------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._params.items():
            yield prefix + name, p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_state(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Parameters' data and persistent buffers (running statistics), PyTorch state_dict order."""
        for name, p in self.named_parameters(prefix):
            yield name, p.data

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: to_numpy(a) for name, a in self.named_state()}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into this model's parameters; keys and shapes must match (``strict``)."""
        own = dict(self.named_state())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"{self.label}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        values = {}
        for key, target in own.items():  # validate everything first: a rejected load changes nothing
            if key not in state:
                continue
            value = np.asarray(state[key])
            if value.shape != target.shape:
                raise ValueError(f"{self.label}.load_state_dict: {key!r} expected shape {target.shape}, "
                                 f"got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{self.label}.load_state_dict: {key!r} contains NaN or Inf")
            values[key] = value
        for key, value in values.items():
            assign(own[key], value)

    # --- device ----------------------------------------------------------------------------------------
    def children(self) -> Iterator[Module]:
        """The modules this one holds directly (attributes, and lists/tuples of modules)."""
        for value in vars(self).values():
            if isinstance(value, Module):
                yield value
            elif isinstance(value, (list, tuple)):
                yield from (v for v in value if isinstance(v, Module))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once."""
        seen: set[int] = set()
        stack: list[Module] = [self]
        while stack:
            m = stack.pop()
            if id(m) not in seen:
                seen.add(id(m))
                yield m
                stack.extend(m.children())

    def to(self, device: str | Backend) -> Module:
        """Move parameters, running statistics and constants to ``device`` ("cpu" or "cuda"), in place;
        build the optimizer after this (its state lives where the parameters are). Returns self."""
        backend = get_backend(device)
        params = self.parameters()
        if params:
            FlatParams.of(params).to(backend)
        for m in self.modules():
            old, m.backend = m.backend, backend
            m._buffers.clear()
            for name in m._device_arrays:
                a = getattr(m, name, None)
                if a is not None:
                    setattr(m, name, backend.to_device(old.to_host(a)))
        return self

    @property
    def device(self) -> str:
        return self.backend.name

    def train(self, mode: bool = True) -> Module:
        self.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def config(self) -> dict:
        """Constructor arguments that rebuild this layer (saved as the architecture)."""
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def pair(value: int | tuple[int, int], name: str, layer: str) -> tuple[int, int]:
    """PyTorch's int-or-(h, w) argument convention, validated."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{layer}: {name} must be an int or an (h, w) pair of ints, got {value!r}")
