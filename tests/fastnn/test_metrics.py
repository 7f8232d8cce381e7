"""Metrics against hand-computed values and independent formulas (torch for top-k)."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np
import pytest
import torch

from fastnn import metrics


def test_accuracy_and_top_k_match_torch_topk():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((200, 10)).astype(np.float32)
    target = rng.integers(0, 10, 200)
    assert metrics.accuracy(scores, target) == pytest.approx(float(np.mean(scores.argmax(1) == target)))
    for k in (1, 3, 5):
        top = torch.topk(torch.from_numpy(scores), k, dim=1).indices.numpy()
        expected = float(np.mean((top == target[:, None]).any(axis=1)))
        assert metrics.top_k_accuracy(scores, target, k) == pytest.approx(expected)
    assert metrics.top_k_accuracy(scores, target, 10) == 1.0


def test_confusion_matrix_and_per_class_scores_by_hand():
    target = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 1, 0, 1, 1, 2, 0, 2, 1])
    cm = metrics.confusion_matrix(pred, target, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 0], [1, 1, 2]])
    s = metrics.precision_recall_f1(cm)
    np.testing.assert_allclose(s["precision"], [2 / 3, 2 / 4, 2 / 2])
    np.testing.assert_allclose(s["recall"], [2 / 3, 2 / 2, 2 / 4])
    np.testing.assert_allclose(s["f1"], [2 / 3, 2 * 0.5 / 1.5, 2 * 0.5 / 1.5])
    np.testing.assert_array_equal(s["support"], [3, 2, 4])


def test_absent_class_scores_zero_not_nan():
    cm = metrics.confusion_matrix(np.array([0, 0]), np.array([0, 0]), 3)
    s = metrics.precision_recall_f1(cm)
    assert np.isfinite(s["f1"]).all() and s["f1"][1] == 0


def test_report_and_errors():
    scores = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]
    report = metrics.classification_report(scores, np.array([0, 1, 2, 1]))
    assert "accuracy 0.7500" in report and "macro" in report
    with pytest.raises(ValueError, match="targets"):
        metrics.accuracy(scores, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        metrics.accuracy(scores[0], np.array([0]))
    with pytest.raises(ValueError, match="k must be"):
        metrics.top_k_accuracy(scores, np.array([0, 1, 2, 1]), k=4)
