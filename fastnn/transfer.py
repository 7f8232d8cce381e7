"""Transfer learning: freeze layers, replace the head, fine-tune with per-group learning rates.

    model = fastnn.io.load("pretrained.safetensors")
    model = transfer.replace_head(model, nn.Linear(84, 5))        # new classifier, same trunk weights
    transfer.freeze(model, model.layers[:-1])                     # or freeze(model, up_to=-1)
    opt = optim.Adam(transfer.trainable(model), lr=1e-3)          # frozen parameters are not optimized
    # or unfreeze and fine-tune everything with a smaller lr for the trunk:
    opt = optim.Adam(transfer.param_groups(model, {"head": 1e-3, "trunk": 1e-4}, head_layers=1))
"""

from __future__ import annotations

from collections.abc import Iterable

from fastnn.layers.base import Module
from fastnn.model import Sequential
from fastnn.params import Parameter


def _layers(model: Sequential, layers: Iterable[Module] | None, up_to: int | None) -> list[Module]:
    if (layers is None) == (up_to is None):
        raise ValueError("freeze/unfreeze: pass either layers= or up_to=")
    return list(layers) if layers is not None else model.layers[:up_to]


def freeze(model: Sequential, layers: Iterable[Module] | None = None, up_to: int | None = None) -> int:
    """Mark the parameters of ``layers`` (or of model.layers[:up_to]) frozen; returns how many."""
    params = [p for layer in _layers(model, layers, up_to) for p in layer.parameters()]
    for p in params:
        p.frozen = True
    return len(params)


def unfreeze(model: Sequential, layers: Iterable[Module] | None = None, up_to: int | None = None) -> int:
    """Undo freeze for ``layers`` (or model.layers[:up_to]); returns how many parameters."""
    params = [p for layer in _layers(model, layers, up_to) for p in layer.parameters()]
    for p in params:
        p.frozen = False
    return len(params)


def trainable(model: Module) -> list[Parameter]:
    """The parameters an optimizer should update (not frozen)."""
    return [p for p in model.parameters() if not p.frozen]


def replace_head(model: Sequential, head: Module, n_last: int = 1) -> Sequential:
    """A new Sequential: the model's layers except the last ``n_last``, then ``head`` (the trunk's weights
    are copied into the new model's flat buffer; the old model is left unchanged)."""
    if not 1 <= n_last < len(model.layers):
        raise ValueError(f"replace_head: n_last must be in [1, {len(model.layers) - 1}], got {n_last}")
    from fastnn.io import build

    trunk_state = {k: v for k, v in model.state_dict().items()
                   if int(k.split(".", 1)[0]) < len(model.layers) - n_last}
    trunk = build({"layers": model.config()["layers"][:-n_last], "fuse": model.fuse})
    trunk.load_state_dict(trunk_state)
    return Sequential(*trunk.layers, head, fuse=model.fuse)


def param_groups(model: Sequential, lrs: dict[str, float], head_layers: int = 1) -> list[dict]:
    """Two optimizer param groups: {"head": lr for the last ``head_layers`` layers, "trunk": lr for the
    rest} (frozen parameters left out), for discriminative fine-tuning."""
    split = len(model.layers) - head_layers
    trunk = [p for layer in model.layers[:split] for p in layer.parameters() if not p.frozen]
    head = [p for layer in model.layers[split:] for p in layer.parameters() if not p.frozen]
    return [g for g in ({"params": trunk, "lr": lrs["trunk"]}, {"params": head, "lr": lrs["head"]}) if g["params"]]
