"""fastnn lr-sweep: short runs at base_lr x factors from the same initial weights, divergence detection,
the chosen rate, the table and the CLI subcommand."""

from __future__ import annotations

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import math
from fractions import Fraction

import numpy as np
import pytest

from fastnn.cli import main
from fastnn.lr_sweep import SweepRun, choose, format_factor, lr_sweep, parse_factors

TINY = dict(epochs=1, subset=300, val_subset=200, batch_size=32, seed=0)


@pytest.fixture(scope="module")
def sweep():
    """The MLP with SGD at 0.03 x {1/3, 1, 1e7}: two sane rates and one that blows up to NaN."""
    return lr_sweep("mlp", "sgd", base_lr=0.03, factors=(Fraction(1, 3), 1, 1e7), **TINY)


def test_sweep_runs_every_factor_and_flags_the_divergent_one(sweep):
    assert [r.lr for r in sweep.runs] == pytest.approx([0.01, 0.03, 3e5])
    small, mid, huge = sweep.runs
    assert huge.diverged and "NaN" in huge.note and math.isnan(huge.val_loss)
    assert not small.diverged and not mid.diverged
    for r in (small, mid):
        assert r.train_loss < sweep.initial_loss and np.isfinite(r.val_loss) and 0 <= r.val_accuracy <= 1


def test_sweep_chooses_the_best_non_divergent_rate_and_it_is_sane(sweep):
    ok = [r for r in sweep.runs if not r.diverged]
    assert sweep.chosen in ok
    assert sweep.chosen.val_loss == min(r.val_loss for r in ok)
    assert sweep.chosen_lr == sweep.chosen.lr
    # sane: training at the chosen rate clearly beats the initial weights and chance
    assert sweep.chosen.val_loss < 0.8 * sweep.initial_loss and sweep.chosen.val_accuracy > 0.3


def test_sweep_table_and_summary(sweep):
    table = sweep.table()
    lines = table.splitlines()
    assert len(lines) == 1 + len(sweep.runs)
    assert lines[0].split() == ["factor", "lr", "train", "loss", "val", "loss", "val", "acc", "diverged"]
    assert "1/3" in lines[1] and lines[3].rstrip().endswith("yes (loss became NaN/Inf)")
    assert sum(line.startswith("*") for line in lines) == 1
    assert f"chosen lr: {sweep.chosen_lr:.4g}" in sweep.summary()


def test_every_run_starts_from_the_same_weights_and_batch_order():
    """Two runs at the same factor are identical; the whole sweep is deterministic."""
    a = lr_sweep("mlp", "adam", base_lr=1e-3, factors=(1, 1, 3), **TINY)
    b = lr_sweep("mlp", "adam", base_lr=1e-3, factors=(1, 1, 3), **TINY)
    assert a.runs[0] == a.runs[1]
    assert a.runs == b.runs
    assert a.runs[2].val_loss != a.runs[0].val_loss


def _run(lr, val_loss, diverged=False):
    return SweepRun(1.0, lr, 1.0, val_loss, 0.5, diverged)


def test_choose_rule():
    assert choose([_run(0.1, 0.5), _run(0.3, 0.4), _run(0.9, 0.2, diverged=True)]).lr == 0.3
    assert choose([_run(0.1, 0.4), _run(0.3, 0.4), _run(0.03, 0.4)]).lr == 0.3  # ties -> the larger rate
    assert choose([_run(0.1, 0.4 + 1e-15), _run(0.3, 0.4)]).lr == 0.3
    assert choose([_run(0.1, 0.4, diverged=True)]) is None


def test_factor_parsing_and_formatting():
    assert parse_factors("1/9,1/3,1,3,9") == [Fraction(1, 9), Fraction(1, 3), 1.0, 3.0, 9.0]
    assert parse_factors(" 0.5 , 2e3 ") == [0.5, 2000.0]
    for bad in ("1/0", "-1", "abc", "", "0", "inf"):
        with pytest.raises(ValueError, match="--factors"):
            parse_factors(bad)
    assert [format_factor(float(f)) for f in parse_factors("1/9,1/3,1,3,9,0.25")] == \
        ["1/9", "1/3", "1", "3", "9", "1/4"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(base_lr=0.0), "base_lr"), (dict(factors=()), "factors"), (dict(factors=(1, -3)), "factors"),
    (dict(model="resnet1000"), "unknown model"), (dict(optimizer="sgdd"), "unknown optimizer"),
    (dict(subset=0), "subset")])
def test_bad_arguments(kwargs, match):
    args = dict(model="mlp", optimizer="sgd", base_lr=0.01, **TINY) | kwargs
    with pytest.raises(ValueError, match=match):
        lr_sweep(**args)


def test_cli_lr_sweep(capsys):
    rc = main(["lr-sweep", "--model", "mlp", "--optimizer", "sgd", "--base-lr", "0.03", "--factors", "1/3,1,1000",
               "--epochs", "1", "--subset", "300", "--val-subset", "200", "--seed", "0"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "lr-sweep: mlp, sgd, base lr 0.03 x {1/3, 1, 1000}; 300 train / 200 val images" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("1000"))
    assert row.rstrip().endswith("yes (loss above the initial loss)")  # finite, but training made it worse
    assert "chosen lr: 0.03 (factor 1 x 0.03)" in out


def test_cli_lr_sweep_all_diverged_and_bad_factors(capsys):
    rc = main(["lr-sweep", "--base-lr", "0.03", "--factors", "1e7", "--subset", "100", "--val-subset", "50"])
    assert rc == 1 and "every rate diverged" in capsys.readouterr().out
    rc = main(["lr-sweep", "--factors", "1/0"])
    assert rc == 2 and "--factors" in capsys.readouterr().err
