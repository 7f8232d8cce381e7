"""Validate-then-time helper shared by the lab modules."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_ms(f: Callable[[], object], reps: int = 20, rounds: int = 5) -> float:
    """Best-of-``rounds`` mean wall time of ``f`` in milliseconds (after one warm-up call)."""
    f()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            f()
        best = min(best, (time.perf_counter() - start) / reps)
    return best * 1e3


def compare(title: str, variants: dict[str, Callable[[], np.ndarray]], expected: np.ndarray,
            rtol: float = 1e-4, atol: float = 1e-4) -> None:
    """Check every variant's output against ``expected``, then print their times relative to the first."""
    for name, f in variants.items():
        np.testing.assert_allclose(f(), expected, rtol=rtol, atol=atol, err_msg=f"{title}: {name}")
    times = {name: best_ms(f) for name, f in variants.items()}
    base = next(iter(times.values()))
    print(f"{title}: " + ", ".join(f"{n} {t:.3f} ms ({base / t:.2f}x)" for n, t in times.items()))
