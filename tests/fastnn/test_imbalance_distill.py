"""Class weights change the loss exactly as PyTorch's weighted cross-entropy; fit() distils a teacher."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np
import torch

from fastnn import nn, optim
from fastnn.data import class_weight


def test_balanced_class_weights_give_pytorchs_weighted_loss_and_gradient():
    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 8 + [2] * 2)
    logits = rng.standard_normal((40, 3)).astype(np.float32)
    w = class_weight(y)
    loss = nn.CrossEntropyLoss(weight=w)
    ours = loss(logits, y)
    t = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(t, torch.from_numpy(y), weight=torch.from_numpy(w))
    theirs.backward()
    np.testing.assert_allclose(ours, theirs.item(), rtol=1e-5)
    np.testing.assert_allclose(loss.backward(), t.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert abs(ours - nn.CrossEntropyLoss()(logits, y)) > 1e-3  # the weights do change the loss


def test_fit_distils_a_teacher_into_a_student():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 240)
    x = (rng.standard_normal((240, 12)) + 3.0 * np.eye(3, 12)[y]).astype(np.float32)
    fastnn.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 3))
    fastnn.fit(teacher, nn.CrossEntropyLoss(), optim.Adam(teacher.parameters(), lr=1e-2), (x, y), epochs=8,
               progress=False)
    teacher_before = teacher.flat.data.copy()
    student = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    distill = nn.DistillationLoss(T=2.0, alpha=0.7)
    hist = fastnn.fit(student, nn.CrossEntropyLoss(), optim.Adam(student.parameters(), lr=1e-2), (x, y),
                      val=(x, y), epochs=15, teacher=teacher, distill=distill, progress=False)
    np.testing.assert_array_equal(teacher.flat.data, teacher_before)  # the teacher is only read
    assert hist["val_accuracy"][-1] > 0.85
    # the training loss reported is the distillation loss, the validation loss plain cross-entropy
    s, t = student.eval()(x), teacher.eval()(x)
    assert abs(distill(s, y, t) - hist["loss"][-1]) < 0.3


def test_distillation_needs_both_arguments():
    m = nn.Sequential(nn.Linear(2, 2))
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int64)
    import pytest

    with pytest.raises(ValueError, match="teacher= and distill="):
        fastnn.fit(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1), (x, y), teacher=m, progress=False)
