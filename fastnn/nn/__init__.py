"""The PyTorch-familiar namespace: ``from fastnn import nn`` then ``nn.Conv2d``, ``nn.Sequential``, ..."""

from fastnn import init
from fastnn.layers.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from fastnn.layers.base import Module
from fastnn.layers.conv import Conv2d
from fastnn.layers.linear import Linear
from fastnn.layers.pool import AvgPool2d, MaxPool2d
from fastnn.layers.reshape import Flatten
from fastnn.losses import CrossEntropyLoss
from fastnn.model import Sequential
from fastnn.nn import utils  # torch.nn.utils-style access: nn.utils.clip_grad_norm_
from fastnn.params import Parameter

LAYERS: dict[str, type[Module]] = {cls.__name__: cls for cls in (
    Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, ReLU, LeakyReLU, Sigmoid, Tanh, Sequential)}

__all__ = ["init", "Module", "Parameter", "Sequential", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "CrossEntropyLoss", "LAYERS",
           "utils"]
