"""Ready-made architectures, registered by name for the CLI (``fastnn train --model NAME``)."""

from __future__ import annotations

from collections.abc import Callable

from fastnn import nn


def lenet5(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """LeNet-5 for 28x28 inputs (conv 5x5 pad 2 -> pool -> conv 5x5 -> pool -> 120 -> 84 -> classes), ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))


def mlp(num_classes: int = 10, in_features: int = 784, hidden: int = 256) -> nn.Sequential:
    """MLP in_features-hidden-classes with ReLU (784-256-10 by default); flattens image input."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


MODELS: dict[str, Callable[..., nn.Sequential]] = {"lenet5": lenet5, "mlp": mlp}
