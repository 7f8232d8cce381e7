"""fastnn: train small neural networks on Numba CPU kernels, with a PyTorch-familiar API.

    from fastnn import nn, optim
    model = fastnn.models.lenet5()
    history = fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (x, y), epochs=5)

Importing ``fastnn`` is light: it fixes the thread budget (kernels/_env.py, before numba or any
OpenMP runtime starts) and loads the rest on first use, so ``fastnn.runtime`` (NumPy-only inference)
works where numba is not installed.
"""

import importlib

import kernels  # noqa: F401  (first: sets the thread budget and numba cache before numba starts)

__version__ = "0.1.0"

_LAZY = {
    "nn": ("fastnn.nn", None), "optim": ("fastnn.optim", None), "models": ("fastnn.models", None),
    "data": ("fastnn.data", None), "io": ("fastnn.io", None), "metrics": ("fastnn.metrics", None),
    "callbacks": ("fastnn.callbacks", None), "runtime": ("fastnn.runtime", None),
    "fit": ("fastnn.train", "fit"), "evaluate": ("fastnn.train", "evaluate"),
    "TrainingDivergedError": ("fastnn.train", "TrainingDivergedError"),
    "manual_seed": ("fastnn.init", "manual_seed"), "Backend": ("fastnn.backend", "Backend"),
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    value = getattr(value, attr) if attr else value
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
