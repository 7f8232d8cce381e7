"""Classification metrics over NumPy arrays: accuracy, top-k, confusion matrix, precision/recall/F1.

``scores`` are logits or probabilities (N, K); ``target`` integer classes (N,). Definitions follow
scikit-learn: precision_c = TP_c / (TP_c + FP_c), recall_c = TP_c / (TP_c + FN_c), F1 their harmonic
mean; a 0/0 is reported as 0.
"""

from __future__ import annotations

import numpy as np


def _check(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, target = np.asarray(scores), np.asarray(target)
    if scores.ndim != 2 or target.shape != (scores.shape[0],):
        raise ValueError(f"metrics: expected scores (N, K) and targets (N,), got {scores.shape} and {target.shape}")
    if not np.issubdtype(target.dtype, np.integer) or (target.size and (target.min() < 0 or
                                                                         target.max() >= scores.shape[1])):
        raise ValueError(f"metrics: targets must be integers in [0, {scores.shape[1]})")
    return scores, target


def accuracy(scores: np.ndarray, target: np.ndarray) -> float:
    """Fraction of rows whose arg-max equals the target."""
    scores, target = _check(scores, target)
    return float(np.mean(scores.argmax(axis=1) == target)) if target.size else 0.0


def top_k_accuracy(scores: np.ndarray, target: np.ndarray, k: int = 5) -> float:
    """Fraction of rows whose target is among the k highest scores."""
    scores, target = _check(scores, target)
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"top_k_accuracy: k must be in [1, {scores.shape[1]}], got {k}")
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.mean((top == target[:, None]).any(axis=1))) if target.size else 0.0


def confusion_matrix(predicted: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j (int64, (K, K))."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape or predicted.ndim != 1:
        raise ValueError(f"confusion_matrix: expected two (N,) arrays, got {predicted.shape} and {target.shape}")
    for name, a in (("predicted", predicted), ("target", target)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {name} classes must lie in [0, {num_classes})")
    return np.bincount(target * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def precision_recall_f1(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def classification_report(scores: np.ndarray, target: np.ndarray) -> str:
    """A per-class table (precision, recall, F1, support) plus accuracy and macro averages."""
    scores, target = _check(scores, target)
    k = scores.shape[1]
    stats = precision_recall_f1(confusion_matrix(scores.argmax(axis=1), target, k))
    lines = [f"{'class':>7} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for c in range(k):
        lines.append(f"{c:>7} {stats['precision'][c]:>9.4f} {stats['recall'][c]:>9.4f} {stats['f1'][c]:>9.4f} "
                     f"{stats['support'][c]:>8}")
    lines.append(f"{'macro':>7} {stats['precision'].mean():>9.4f} {stats['recall'].mean():>9.4f} "
                 f"{stats['f1'].mean():>9.4f} {stats['support'].sum():>8}")
    lines.append(f"accuracy {accuracy(scores, target):.4f}")
    return "\n".join(lines)
