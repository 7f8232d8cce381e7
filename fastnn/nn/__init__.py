"""The PyTorch-familiar namespace: ``from fastnn import nn`` then ``nn.Conv2d``, ``nn.Sequential``, ..."""

from fastnn import init
from fastnn.layers.activation import (
    ELU,
    GELU,
    BinaryStep,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from fastnn.layers.base import Module
from fastnn.layers.conv import Conv2d
from fastnn.layers.dropout import Dropout, Dropout2d
from fastnn.layers.linear import Linear
from fastnn.layers.norm import BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm, LocalResponseNorm
from fastnn.layers.pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d
from fastnn.layers.reshape import Flatten
from fastnn.layers.residual import Residual
from fastnn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    DistillationLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from fastnn.model import Sequential
from fastnn.nn import utils  # torch.nn.utils-style access: nn.utils.clip_grad_norm_
from fastnn.params import Parameter

LAYERS: dict[str, type[Module]] = {cls.__name__: cls for cls in (
    Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, ReLU, LeakyReLU, Sigmoid, Tanh, Sequential,
    AdaptiveAvgPool2d, GlobalAvgPool2d, Residual)}

__all__ = ["init", "Module", "Parameter", "Sequential", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "CrossEntropyLoss", "LAYERS",
           "AdaptiveAvgPool2d", "GlobalAvgPool2d", "Residual",
           "utils"]

# activations, dropout and losses (issue 4)
LAYERS.update({cls.__name__: cls for cls in (
    Identity, BinaryStep, ELU, Softplus, GELU, SiLU, Softmax, LogSoftmax, Dropout, Dropout2d)})
__all__ += ["Identity", "BinaryStep", "ELU", "Softplus", "GELU", "SiLU", "Softmax", "LogSoftmax", "Dropout",
            "Dropout2d", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "KLDivLoss",
            "DistillationLoss"]

# normalization (issue 4)
LAYERS.update({cls.__name__: cls for cls in (BatchNorm1d, BatchNorm2d, LayerNorm, InstanceNorm2d, LocalResponseNorm)})
__all__ += ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "InstanceNorm2d", "LocalResponseNorm"]
