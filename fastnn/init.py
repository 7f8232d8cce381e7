"""Weight initializers (in place, seeded) and the one global Generator of DESIGN §6.

``fastnn.manual_seed(s)`` reseeds the generator that layer constructors draw from, like
``torch.manual_seed``; every initializer also takes an explicit ``rng``.
"""

from __future__ import annotations

import math

import numpy as np

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator used for default initialization; returns it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def default_rng() -> np.random.Generator:
    return _rng


def fan_in_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """PyTorch's fans: (in * receptive field, out * receptive field) for (out, in, *kernel) shapes."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform_(a: np.ndarray, low: float = 0.0, high: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """a ~ U(low, high), in place."""
    a[...] = (rng or _rng).uniform(low, high, size=a.shape)
    return a


def zeros_(a: np.ndarray) -> np.ndarray:
    a[...] = 0
    return a


def kaiming_uniform_(a: np.ndarray, negative_slope: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", rng: np.random.Generator | None = None) -> np.ndarray:
    """a ~ U(-bound, bound), bound = gain * sqrt(3 / fan), gain = sqrt(2 / (1 + negative_slope^2)) for
    leaky_relu (sqrt(2) for relu) — PyTorch's kaiming_uniform_."""
    fan_in, fan_out = fan_in_fan_out(a.shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out}[mode]
    gain = math.sqrt(2.0) if nonlinearity == "relu" else math.sqrt(2.0 / (1 + negative_slope ** 2))
    bound = gain * math.sqrt(3.0 / fan)
    return uniform_(a, -bound, bound, rng)


def torch_default_(weight: np.ndarray, bias: np.ndarray | None, rng: np.random.Generator | None = None) -> None:
    """PyTorch's default for Linear/Conv: kaiming_uniform_(a=sqrt(5)) on W, i.e. U(+-1/sqrt(fan_in)),
    and U(+-1/sqrt(fan_in)) on the bias."""
    kaiming_uniform_(weight, negative_slope=math.sqrt(5), rng=rng)
    if bias is not None:
        bound = 1 / math.sqrt(fan_in_fan_out(weight.shape)[0])
        uniform_(bias, -bound, bound, rng)
