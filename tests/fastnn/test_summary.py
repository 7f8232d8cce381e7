"""Model summary: shapes, parameter counts, FLOPs from the formulas, activation memory."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

from fastnn.summary import rows, summary


def test_lenet_rows_match_the_formulas():
    model = fastnn.models.lenet5()
    r = {row["name"]: row for row in rows(model, (64, 1, 28, 28))}
    assert r["0"]["shape"] == (64, 6, 28, 28) and r["5"]["shape"] == (64, 16, 5, 5)
    assert r["0"]["flops"] == 64 * 6 * 28 * 28 * (2 * 1 * 5 * 5 + 1)
    assert r["3"]["flops"] == 64 * 16 * 10 * 10 * (2 * 6 * 5 * 5 + 1)
    assert r["7"]["flops"] == 64 * (2 * 400 * 120 + 120)
    assert r["2"]["flops"] == 64 * 6 * 14 * 14 * 4
    assert sum(row["params"] for row in r.values()) == model.flat.size == 61_706
    assert r["0"]["activation_bytes"] == 4 * 64 * 6 * 28 * 28
    text = summary(model, (1, 28, 28), batch_size=64)
    assert "61,706" in text and "batch 64" in text and text.splitlines()[0].startswith("layer")


def test_residual_flops_count_both_branches():
    model = fastnn.models.resnet8()
    r = {row["name"]: row for row in rows(model, (2, 1, 28, 28))}
    block = 2 * (2 * 16 * 28 * 28) * (2 * 16 * 9)      # two 3x3 convs 16 -> 16 (no bias), batch 2
    assert r["3"]["flops"] >= block and r["3"]["flops"] < 1.2 * block
    assert sum(row["params"] for row in r.values()) == model.flat.size == 77_754
