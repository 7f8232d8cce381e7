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


def vgg_small(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """A small VGG for 28x28 inputs: (conv3x3-ReLU, conv3x3-ReLU, maxpool 2) with 16 then 32 channels
    (28 -> 14 -> 7), then 1568 -> 128 -> classes. 218,490 parameters for 1 channel and 10 classes."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, num_classes))


def basic_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Residual:
    """ResNet's post-activation basic block: ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x)); the
    shortcut is the identity, or a 1x1 conv (with the block's stride) + BN when the shape changes."""
    block = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels))
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                 nn.BatchNorm2d(out_channels))
    return nn.Residual(block, shortcut, activation=nn.ReLU())


def resnet8(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """ResNet-8 for 28x28 inputs: conv3x3 16 + BN + ReLU, three basic blocks (16, 32 and 64 channels; the
    last two with stride 2 and 1x1 conv + BN projection shortcuts: 28 -> 14 -> 7), global average pool,
    Linear(64, classes). Convolutions before a BN have no bias. 77,754 parameters for 1 channel, 10 classes.

    state_dict keys follow the equivalent PyTorch module: "3.block.0.weight", "4.shortcut.1.running_mean", ...
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        basic_block(16, 16), basic_block(16, 32, stride=2), basic_block(32, 64, stride=2),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(64, num_classes))


MODELS: dict[str, Callable[..., nn.Sequential]] = {"lenet5": lenet5, "mlp": mlp, "vgg_small": vgg_small,
                                                   "resnet8": resnet8}
