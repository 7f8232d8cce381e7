"""Augment / mixup: seeded, shape-preserving, and doing what each option says."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np
import pytest

from fastnn.data.augment import Augment, mixup


def digits(n=8):
    x = np.zeros((n, 1, 28, 28), np.float32)
    x[:, :, 10:18, 12:16] = 1.0
    return x


def test_same_seed_same_batches_and_options_take_effect():
    x = digits()
    a1, a2 = Augment(shift=3, flip=True, rotate=15, noise=0.1, rng=5), Augment(shift=3, flip=True, rotate=15,
                                                                                noise=0.1, rng=5)
    np.testing.assert_array_equal(a1(x), a2(x))
    out = Augment(shift=3, rng=0)(x)
    assert out.shape == x.shape and not np.array_equal(out, x)
    assert np.allclose(out.sum(axis=(1, 2, 3)), x.sum(axis=(1, 2, 3)))  # the blob stays inside: mass kept
    assert np.array_equal(Augment(rng=0)(x), x)                         # nothing enabled: identity copy
    with pytest.raises(ValueError, match="float32"):
        Augment(shift=1)(x.astype(np.float64))


def test_mixup_soft_labels_and_seed():
    x = digits(6) + np.arange(6, dtype=np.float32)[:, None, None, None]
    y = np.array([0, 1, 2, 0, 1, 2])
    mx, my, lam = mixup(x, y, 3, alpha=0.4, rng=1)
    assert 0 <= lam <= 1 and my.shape == (6, 3)
    np.testing.assert_allclose(my.sum(axis=1), 1.0, rtol=1e-6)
    mx2, my2, lam2 = mixup(x, y, 3, alpha=0.4, rng=1)
    assert lam2 == lam and np.array_equal(mx, mx2)
    with pytest.raises(ValueError, match="labels"):
        mixup(x, np.array([0, 1, 2, 0, 1, 5]), 3)


def test_fit_applies_the_augmentation_to_training_batches():
    from fastnn import nn, optim

    seen = []

    def spy(xb):
        seen.append(xb.copy())
        return xb * 0  # a model trained on blank inputs cannot separate the classes

    x = digits(32) * np.arange(32, dtype=np.float32)[:, None, None, None]
    y = np.arange(32) % 2
    model = fastnn.models.mlp(num_classes=2)
    fastnn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
               batch_size=8, augment=spy, progress=False)
    assert len(seen) == 4 and all(s.shape == (8, 1, 28, 28) for s in seen)
