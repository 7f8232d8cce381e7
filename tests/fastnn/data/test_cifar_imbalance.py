"""CIFAR-10 batches through the restricted unpickler, load(spec), class weights and samplers."""

import os
import pickle

import numpy as np
import pytest

from fastnn.data import UnsafePickleError, class_weight, load, load_cifar10, oversample, read_cifar_batch, undersample
from fastnn.data.cifar import TEST_BATCHES, TRAIN_BATCHES


def _write_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a"] * n}, f,
                    protocol=2)
    return data, labels


def test_reads_cifar_batches_like_the_official_layout(tmp_path):
    expected = [_write_batch(tmp_path / name, 4, i) for i, name in enumerate(TRAIN_BATCHES + TEST_BATCHES)]
    x, y = load_cifar10(tmp_path, "train")
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:4].reshape(4, -1), expected[0][0])
    np.testing.assert_array_equal(y[4:8], expected[1][1])
    # channel-major rows: the first 1024 bytes are the red plane
    np.testing.assert_array_equal(x[0, 0].reshape(-1), expected[0][0][0, :1024])
    xt, yt = load(f"cifar10:{tmp_path}", kind="test")
    assert xt.shape == (4, 3, 32, 32)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused_before_running(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(UnsafePickleError, match=r"data_batch_1.*refused to unpickle (posix|os)\.system"):
        read_cifar_batch(path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong_shape", "bad_labels"])
def test_corrupt_batches_give_clear_errors(tmp_path, damage):
    path = tmp_path / "data_batch_1"
    _write_batch(path, 3, 0)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\x01not a pickle")
    elif damage == "wrong_shape":
        path.write_bytes(pickle.dumps({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}))
    else:
        path.write_bytes(pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 12]}))
    with pytest.raises(ValueError, match="data_batch_1"):
        read_cifar_batch(path)


def test_missing_files_and_bad_specs(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_cifar10(tmp_path)
    with pytest.raises(ValueError, match="unknown data spec"):
        load("imagenet:/x")
    x, y = load("mnist-bundled")
    assert x.shape == (5000, 28, 28)


def test_balanced_class_weights_match_the_formula():
    labels = np.array([0] * 6 + [1] * 3 + [3] * 1)
    w = class_weight(labels, num_classes=4)
    # N / (K_present * n_c): 10 / (3 * 6), 10 / (3 * 3), absent class 0, 10 / (3 * 1)
    np.testing.assert_allclose(w, [10 / 18, 10 / 9, 0.0, 10 / 3], rtol=1e-6)
    assert w.dtype == np.float32
    np.testing.assert_allclose(np.mean(w[labels]), 1.0, rtol=1e-6)  # mean weight over the samples is 1
    with pytest.raises(ValueError, match="balanced"):
        class_weight(labels, mode="inverse")


def test_samplers_balance_the_classes():
    labels = np.array([0] * 50 + [1] * 10 + [2] * 5)
    under = undersample(labels, rng=0)
    assert np.bincount(labels[under]).tolist() == [5, 5, 5] and len(set(under)) == len(under)
    over = oversample(labels, rng=0)
    assert np.bincount(labels[over]).tolist() == [50, 50, 50]
    assert set(np.flatnonzero(labels == 2)) <= set(over)  # every original minority sample is kept
    np.testing.assert_array_equal(undersample(labels, rng=1), undersample(labels, rng=1))
    assert not np.array_equal(oversample(labels, rng=1), oversample(labels, rng=2))
