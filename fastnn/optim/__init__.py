"""Optimizers over the flat parameter buffer: one fused kernel launch per step (DESIGN §3).

Param groups work as in PyTorch (``[{"params": [...], "lr": ...}, ...]``); each group becomes
segments of the flat buffer's segment table carrying its lr, weight decay (L2) and ``l1`` penalty;
``frozen=True`` groups are skipped by the kernel. Host code computes bias corrections etc. in
float64 and passes them as scalars (fastnn/optim/base.py).

==============  ==========================================  ====================================
fastnn.optim    PyTorch counterpart                          notes
==============  ==========================================  ====================================
SGD             torch.optim.SGD                              ``convention="textbook"``: v = mu v - lr g
Adagrad         torch.optim.Adagrad
RMSprop         torch.optim.RMSprop                          ``eps_inside_sqrt``, ``nesterov`` (Alg. 8.6)
Adam            torch.optim.Adam (amsgrad = AMSGrad)         ``decoupled_weight_decay`` as in torch
AdamW           torch.optim.AdamW
Adamax          torch.optim.Adamax
NAdam           torch.optim.NAdam
==============  ==========================================  ====================================

Every optimizer also takes ``maximize`` and ``l1`` and has ``state_dict()`` / ``load_state_dict()``.
"""

import importlib

from fastnn.optim.adam import Adam, Adamax, AdamW, NAdam
from fastnn.optim.adaptive import Adagrad, RMSprop
from fastnn.optim.base import PARALLEL_MIN, PARALLEL_MIN_LIGHT, Optimizer
from fastnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "PARALLEL_MIN",
           "PARALLEL_MIN_LIGHT", "lr_scheduler"]


def __getattr__(name: str):
    """``fastnn.optim.lr_scheduler`` (torch.optim.lr_scheduler-style access), imported on first use
    (~10 ms of a start-up that does not schedule)."""
    if name == "lr_scheduler":
        return importlib.import_module("fastnn.optim.lr_scheduler")
    raise AttributeError(f"module 'fastnn.optim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "lr_scheduler"})
