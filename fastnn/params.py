"""Parameters and the flat buffers that hold them (DESIGN §3).

A built model owns ONE contiguous float32 ``data`` buffer and ONE ``grad`` buffer; every
``Parameter.data`` / ``Parameter.grad`` is a reshaped view into them, so one optimizer kernel
launch updates the whole model and ``zero_grad`` is one memset.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np

from fastnn.backend import CPU, Backend


class Parameter:
    """A trainable array: ``data`` and ``grad`` are NumPy views (into a FlatParams once adopted)."""

    __slots__ = ("data", "grad", "flat", "offset", "frozen")

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        self.grad = np.zeros_like(self.data)
        self.flat: FlatParams | None = None
        self.offset = 0
        self.frozen = False  # set by fastnn.transfer.freeze; fastnn.transfer.trainable() leaves it out

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape})"

    def __deepcopy__(self, memo: dict) -> Parameter:
        """A copy that views the copy of its flat buffer (NumPy's deepcopy would detach the views)."""
        if self.flat is not None and copy.deepcopy(self.flat, memo) is not None:
            return memo[id(self)]  # the flat buffer's copy registered it
        new = Parameter.__new__(Parameter)  # a loose parameter (or the caller mapped its flat to None)
        new.data, new.grad, new.flat, new.offset, new.frozen = self.data.copy(), self.grad.copy(), None, 0, self.frozen
        return new


class FlatParams:
    """One contiguous data buffer and one grad buffer holding a list of parameters back to back."""

    def __init__(self, params: Iterable[Parameter]) -> None:
        self.params = list(params)
        self.backend = CPU
        total = sum(p.size for p in self.params)
        self.data = np.empty(total, dtype=np.float32)
        self.grad = np.zeros(total, dtype=np.float32)
        offset = 0
        for p in self.params:
            n = p.size
            self.data[offset:offset + n] = p.data.reshape(-1)
            self.grad[offset:offset + n] = p.grad.reshape(-1)
            p.data = self.data[offset:offset + n].reshape(p.shape)
            p.grad = self.grad[offset:offset + n].reshape(p.shape)
            p.flat, p.offset = self, offset
            offset += n

    @property
    def size(self) -> int:
        return self.data.size

    def __deepcopy__(self, memo: dict) -> FlatParams:
        """Copies of both buffers, with copies of the parameters viewing them (registered in ``memo``)."""
        new = FlatParams.__new__(FlatParams)
        memo[id(self)] = new
        b = self.backend
        new.backend, new.data, new.grad = b, b.clone(self.data), b.clone(self.grad)
        new.params = []
        for p in self.params:
            if p.flat is not self:  # adopted since by an enclosing model's buffer: that copy maps it
                continue
            q = Parameter.__new__(Parameter)
            q.data = new.data[p.offset:p.offset + p.size].reshape(p.shape)
            q.grad = new.grad[p.offset:p.offset + p.size].reshape(p.shape)
            q.flat, q.offset, q.frozen = new, p.offset, p.frozen
            memo[id(p)] = q
            new.params.append(q)
        return new

    def zero_grad(self, ranges: list[tuple[int, int]] | None = None) -> None:
        """Zero the whole grad buffer (one memset), or only the [start, end) ``ranges``."""
        for s, e in [(0, self.size)] if ranges is None else ranges:
            self.backend.fill(self.grad[s:e], 0)

    def to(self, backend: Backend) -> None:
        """Move both buffers to ``backend`` (one copy each) and re-point every parameter's views."""
        if backend is self.backend:
            return
        data = backend.to_device(self.backend.to_host(self.data))
        grad = backend.to_device(self.backend.to_host(self.grad))
        self.data, self.grad, self.backend = data, grad, backend
        for p in self.params:
            n = p.size
            p.data = data[p.offset:p.offset + n].reshape(p.shape)
            p.grad = grad[p.offset:p.offset + n].reshape(p.shape)

    @staticmethod
    def of(params: Iterable[Parameter]) -> FlatParams:
        """The FlatParams holding all of ``params``; adopts them into a new one if they are not in one."""
        params = list(params)
        owners = {id(p.flat) for p in params}
        if len(owners) == 1 and params and params[0].flat is not None:
            return params[0].flat
        return FlatParams(params)

    def ranges(self, params: Iterable[Parameter]) -> list[tuple[int, int]]:
        """[start, end) ranges of ``params`` in this buffer, sorted, adjacent ones merged."""
        spans = sorted((p.offset, p.offset + p.size) for p in params)
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return merged
