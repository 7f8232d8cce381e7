"""fastnn: train small neural networks on Numba CPU kernels, with a PyTorch-familiar API.

    from fastnn import nn, optim
    model = fastnn.models.lenet5()
    history = fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (x, y), epochs=5)
"""

import kernels  # noqa: F401  (first: sets the thread budget and numba cache before numba starts)
from fastnn import models, nn, optim
from fastnn.backend import Backend
from fastnn.init import manual_seed
from fastnn.train import TrainingDivergedError, evaluate, fit

__version__ = "0.1.0"

__all__ = ["nn", "optim", "models", "fit", "evaluate", "manual_seed", "Backend", "TrainingDivergedError",
           "__version__"]
