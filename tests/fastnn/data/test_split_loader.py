"""Stratified splits, MNIST preprocessing and the batch iterator."""

from __future__ import annotations

import numpy as np
import pytest

from fastnn.data import MNIST_MEAN, MNIST_STD, BatchIterator, stratified_split, train_val_test

# Uneven classes, including a class of 1 and classes not divisible by 10.
CLASS_SIZES = {0: 7, 1: 13, 2: 100, 3: 1, 4: 50, 7: 33}


def uneven_labels(seed: int = 0) -> np.ndarray:
    labels = np.concatenate([np.full(n, c) for c, n in CLASS_SIZES.items()])
    return np.random.default_rng(seed).permutation(labels)


# --------------------------------------------------------------------------- stratified_split


@pytest.mark.parametrize(
    "fractions", [(0.7, 0.2, 0.1), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.15,) * 6 + (0.1,)]
)
def test_split_partitions_and_stratifies(fractions):
    labels = uneven_labels()
    parts = stratified_split(labels, fractions, rng=3)
    assert len(parts) == len(fractions)
    for p in parts:
        assert p.dtype == np.int64 and p.ndim == 1
    allidx = np.concatenate(parts)
    assert len(allidx) == len(labels)  # disjoint + covering: a permutation of 0..N-1
    np.testing.assert_array_equal(np.sort(allidx), np.arange(len(labels)))
    for c, n_c in CLASS_SIZES.items():
        for p, f in zip(parts, fractions, strict=True):
            assert abs(np.count_nonzero(labels[p] == c) - n_c * f) <= 1, (c, f)


def test_split_partial_fractions_leave_rest_out():
    labels = np.repeat(np.arange(10), 100)
    a, b = stratified_split(labels, (0.5, 0.25), rng=0)
    assert len(a) == 500 and len(b) == 250
    assert len(np.intersect1d(a, b)) == 0
    np.testing.assert_array_equal(np.bincount(labels[a]), [50] * 10)
    np.testing.assert_array_equal(np.bincount(labels[b]), [25] * 10)


def test_split_exact_counts_on_mnist_like_labels():
    labels = np.repeat(np.arange(10, dtype=np.uint8), 500)  # like the bundled subset: sorted by class
    tr, va, te = stratified_split(labels, (0.7, 0.2, 0.1), rng=0)
    assert (len(tr), len(va), len(te)) == (3500, 1000, 500)
    np.testing.assert_array_equal(np.bincount(labels[va]), [100] * 10)
    # each part is shuffled: the class-sorted input order does not survive
    assert np.any(np.diff(labels[tr].astype(int)) < 0)
    assert np.any(np.diff(tr) < 0)


def test_split_deterministic_and_seed_dependent():
    labels = uneven_labels()
    a = stratified_split(labels, rng=5)
    b = stratified_split(labels, rng=5)
    c = stratified_split(labels, rng=6)
    d = stratified_split(labels, rng=np.random.default_rng(5))
    for x, y, z in zip(a, b, d, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    # a shared Generator advances: two calls give two different splits
    g = np.random.default_rng(1)
    first, second = stratified_split(labels, rng=g), stratified_split(labels, rng=g)
    assert not np.array_equal(first[0], second[0])


def test_split_string_labels_and_empty():
    labels = np.array(list("abcabcabca"))
    a, b = stratified_split(labels, (0.5, 0.5), rng=0)
    np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(10))
    empty = stratified_split(np.array([], dtype=np.int64), (0.5, 0.5))
    assert all(p.shape == (0,) and p.dtype == np.int64 for p in empty)


@pytest.mark.parametrize(
    "fractions,pattern",
    [
        ((0.7, 0.4), "sum <= 1"),
        ((0.5, 0.0), "> 0"),
        ((0.5, -0.1), "> 0"),
        ((float("nan"),), "> 0"),
        ((), "at least one"),
    ],
)
def test_split_validates_fractions(fractions, pattern):
    with pytest.raises(ValueError, match=pattern):
        stratified_split(np.zeros(10), fractions)


def test_split_validates_labels_and_rng():
    with pytest.raises(ValueError, match="1-D"):
        stratified_split(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="rng"):
        stratified_split(np.zeros(4), rng=0.5)
    # a sum within 1e-9 of 1 is accepted
    stratified_split(np.zeros(4), (0.5, 0.5 + 5e-10))


# --------------------------------------------------------------------------- train_val_test


def synthetic_images(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.repeat(np.arange(10), n // 10)


def test_train_val_test_shapes_and_dtypes():
    images, labels = synthetic_images()
    out = train_val_test(images, labels)
    assert list(out) == ["train", "val", "test"]
    sizes = {"train": 210, "val": 60, "test": 30}
    for name, (x, y) in out.items():
        assert x.shape == (sizes[name], 1, 28, 28) and x.dtype == np.float32 and x.flags.c_contiguous
        assert y.shape == (sizes[name],) and y.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(y, minlength=10), [sizes[name] // 10] * 10)


def test_train_val_test_values():
    images, labels = synthetic_images()
    idx = stratified_split(labels, (0.7, 0.2, 0.1), rng=4)
    norm = train_val_test(images, labels, seed=4)
    raw = train_val_test(images, labels, seed=4, normalize=False)
    for name, i in zip(("train", "val", "test"), idx, strict=True):
        expected01 = images[i][:, None].astype(np.float64) / 255.0
        np.testing.assert_array_equal(norm[name][1], labels[i])
        np.testing.assert_allclose(raw[name][0], expected01, rtol=0, atol=1e-7)
        np.testing.assert_allclose(norm[name][0], (expected01 - 0.1307) / 0.3081, rtol=0, atol=1e-6)
    x = raw["train"][0]
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert (MNIST_MEAN, MNIST_STD) == (0.1307, 0.3081)


def test_train_val_test_custom_stats_4d_and_float_input():
    images, labels = synthetic_images(100)
    custom = train_val_test(images, labels, normalize=(0.5, 0.25))
    plain = train_val_test(images, labels, normalize=False)
    np.testing.assert_allclose(custom["val"][0], (plain["val"][0] - 0.5) / 0.25, atol=1e-6)
    four = train_val_test(images[:, None], labels)
    np.testing.assert_array_equal(four["train"][0], train_val_test(images, labels)["train"][0])
    as_float = train_val_test(images.astype(np.float32) / 255, labels)
    np.testing.assert_allclose(as_float["test"][0], train_val_test(images, labels)["test"][0], atol=1e-5)


def test_train_val_test_errors():
    images, labels = synthetic_images(100)
    with pytest.raises(ValueError, match=r"expected shape \(100,\)"):
        train_val_test(images, labels[:-1])
    with pytest.raises(ValueError, match="3 values"):
        train_val_test(images, labels, fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="got shape"):
        train_val_test(images.reshape(100, -1), labels)


# --------------------------------------------------------------------------- BatchIterator


def dataset(n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3)  # sample i holds 6i..6i+5
    return x, np.arange(n) * 10


def epoch_order(it: BatchIterator) -> np.ndarray:
    ids = []
    for xb, yb in it:
        assert xb.flags.c_contiguous and yb.flags.c_contiguous
        i = (xb[:, 0, 0] // 6).astype(np.int64)
        np.testing.assert_array_equal(yb, i * 10)  # x and y stay aligned
        np.testing.assert_array_equal(xb[:, 1, 2], 6 * i + 5)  # whole samples, not mixed rows
        ids.append(i)
    return np.concatenate(ids) if ids else np.empty(0, np.int64)


@pytest.mark.parametrize("n,bs", [(103, 10), (100, 10), (5, 8), (7, 1)])
def test_each_sample_once_per_epoch(n, bs):
    x, y = dataset(n)
    it = BatchIterator(x, y, bs, rng=0)
    sizes = [len(yb) for _, yb in it]
    assert len(sizes) == len(it) == -(-n // bs)
    assert sizes == [bs] * (n // bs) + ([n % bs] if n % bs else [])
    for _ in range(2):
        order = epoch_order(it)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))


def test_batches_hold_the_right_samples():
    x, y = dataset(20)
    for xb, yb in BatchIterator(x, y, 6, rng=1):
        i = yb // 10
        np.testing.assert_array_equal(xb, x[i])


def test_epochs_differ_and_seed_reproduces():
    x, y = dataset(50)
    a = BatchIterator(x, y, 8, rng=7)
    e1, e2 = epoch_order(a), epoch_order(a)
    assert not np.array_equal(e1, e2)
    b = BatchIterator(x, y, 8, rng=7)
    np.testing.assert_array_equal(epoch_order(b), e1)
    np.testing.assert_array_equal(epoch_order(b), e2)
    c = BatchIterator(x, y, 8, rng=8)
    assert not np.array_equal(epoch_order(c), e1)
    d = BatchIterator(x, y, 8, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(epoch_order(d), e1)


def test_permutation_is_drawn_at_iter_time():
    x, y = dataset(30)
    a, b = BatchIterator(x, y, 4, rng=2), BatchIterator(x, y, 4, rng=2)
    abandoned = iter(a)  # an epoch started but never consumed still uses up one permutation
    del abandoned
    epoch_order(b)
    np.testing.assert_array_equal(epoch_order(a), epoch_order(b))


def test_no_shuffle_and_drop_last():
    x, y = dataset(23)
    it = BatchIterator(x, y, 5, shuffle=False)
    np.testing.assert_array_equal(epoch_order(it), np.arange(23))
    dl = BatchIterator(x, y, 5, shuffle=False, drop_last=True)
    assert len(dl) == 4
    assert [len(yb) for _, yb in dl] == [5, 5, 5, 5]
    np.testing.assert_array_equal(epoch_order(dl), np.arange(20))
    sh = BatchIterator(x, y, 5, drop_last=True, rng=0)
    order = epoch_order(sh)
    assert len(order) == 20 and len(np.unique(order)) == 20
    assert (
        len(BatchIterator(x, y, 30, drop_last=True)) == 0
        and list(BatchIterator(x, y, 30, drop_last=True)) == []
    )
    assert len(BatchIterator(x[:0], y[:0], 3)) == 0


def test_non_contiguous_input_gives_contiguous_batches():
    base = np.arange(40 * 3, dtype=np.float64).reshape(40, 3)
    x = base[::2]  # strided view
    y = np.asfortranarray(np.arange(20 * 2).reshape(20, 2))[:, ::-1]
    for shuffle in (True, False):
        for xb, yb in BatchIterator(x, y, 6, shuffle=shuffle):
            assert xb.flags.c_contiguous and yb.flags.c_contiguous
            rows = (xb[:, 0] // 6).astype(int)
            np.testing.assert_array_equal(yb, y[rows])


def test_state_roundtrip_resumes_epoch_sequence():
    x, y = dataset(40)
    ref = BatchIterator(x, y, 7, rng=11)
    orders = [epoch_order(ref) for _ in range(4)]
    it = BatchIterator(x, y, 7, rng=11)
    epoch_order(it)
    epoch_order(it)
    saved = it.get_state()
    assert saved == it.state and isinstance(saved, dict)
    np.testing.assert_array_equal(epoch_order(it), orders[2])
    resumed = BatchIterator(x, y, 7, rng=999)
    resumed.set_state(saved)
    np.testing.assert_array_equal(epoch_order(resumed), orders[2])
    np.testing.assert_array_equal(epoch_order(resumed), orders[3])
    other = BatchIterator(x, y, 7, rng=0)
    other.state = saved
    np.testing.assert_array_equal(epoch_order(other), orders[2])


def test_batch_iterator_errors():
    x, y = dataset(10)
    with pytest.raises(ValueError, match=r"expected 10.*got 9"):
        BatchIterator(x, y[:9], 4)
    with pytest.raises(ValueError, match="expected >= 1, got 0"):
        BatchIterator(x, y, 0)
    with pytest.raises(ValueError, match="got -3"):
        BatchIterator(x, y, -3)
    with pytest.raises(TypeError, match="batch_size"):
        BatchIterator(x, y, 2.5)
    with pytest.raises(TypeError, match="rng"):
        BatchIterator(x, y, 2, rng="seed")
    BatchIterator(x, y, np.int64(4), rng=None)  # numpy ints and OS entropy are fine
