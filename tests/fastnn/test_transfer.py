"""Transfer learning: frozen layers stay bitwise unchanged, the new head learns, per-group lrs apply."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np
import pytest

from fastnn import nn, optim, transfer


def data(n=96, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32) * 0.1
    x[np.arange(n), 0, y, y] += 3.0
    return x, y


def test_replace_head_keeps_the_trunk_and_fine_tunes_only_the_head():
    base = fastnn.models.lenet5()
    model = transfer.replace_head(base, nn.Linear(84, 5))
    assert len(model) == len(base) and model[-1].out_features == 5
    for i in range(len(base) - 1):
        for (_, a), (_, b) in zip(base[i].named_parameters(), model[i].named_parameters()):
            np.testing.assert_array_equal(a.data, b.data)
    assert transfer.freeze(model, up_to=-1) == 8  # 4 conv/linear layers x (weight, bias)
    trunk = model.flat.data[: model[-1].weight.offset].copy()
    head = model[-1].weight.data.copy()
    x, y = data()
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.Adam(transfer.trainable(model), lr=1e-2), (x, y), epochs=2,
               progress=False)
    np.testing.assert_array_equal(model.flat.data[: model[-1].weight.offset], trunk)   # bitwise frozen
    assert not np.array_equal(model[-1].weight.data, head)
    transfer.unfreeze(model, up_to=-1)
    assert len(transfer.trainable(model)) == 10


def test_param_groups_give_the_trunk_a_smaller_learning_rate():
    model = fastnn.models.mlp(num_classes=5)
    groups = transfer.param_groups(model, {"trunk": 0.0, "head": 0.1})
    opt = optim.SGD(groups, lr=0.1)
    before = model.flat.data.copy()
    x, y = data()
    fastnn.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=1, progress=False)
    first = model[1].weight
    np.testing.assert_array_equal(model.flat.data[first.offset:first.offset + first.size],
                                  before[first.offset:first.offset + first.size])
    assert not np.array_equal(model[3].weight.data.ravel(), before[model[3].weight.offset:][:model[3].weight.size])


def test_bad_arguments():
    model = fastnn.models.mlp()
    with pytest.raises(ValueError, match="n_last"):
        transfer.replace_head(model, nn.Linear(256, 3), n_last=len(model))
    with pytest.raises(ValueError, match="either"):
        transfer.freeze(model)
