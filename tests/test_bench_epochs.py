"""``dhag bench epochs``: the snapshot for ``max_epochs = e`` is the state a longer training passes through,
and the summary reads the traces correctly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dhag import DHAG
from dhag.bench.epochs import format_epochs, run_epochs, summarise_trace
from dhag.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark datasets not found at {DATA}")


def test_a_shorter_training_is_the_prefix_of_a_longer_one() -> None:
    # Without the retry: a 3-epoch training of this data collapses and would be trained again.
    X = np.random.default_rng(0).normal(size=(600, 5))
    short = DHAG(max_epochs=3, batch_size=128, random_state=4, collapse_retry=False).fit(X)
    long = DHAG(max_epochs=6, batch_size=128, random_state=4, collapse_retry=False).fit(X)
    keys = ("loss", "ce", "norm", "div", "val_loss")
    first = [[r[k] for k in keys] for r in short.training_["history"]]
    assert first == [[r[k] for k in keys] for r in long.training_["history"][:3]]
    assert len(long.training_["history"]) == 6


def test_the_summary_takes_last_best_and_the_late_swing_per_seed() -> None:
    a = [{"epochs": e, "f1": f} for e, f in ((25, 10.0), (50, 80.0), (75, 40.0), (100, 60.0))]
    b = [{"epochs": e, "f1": f} for e, f in ((25, 90.0), (50, 50.0), (75, 70.0), (100, 70.0))]
    s = summarise_trace([a, b])
    assert (s["last_f1_mean"], s["last_f1_std"]) == (65.0, 5.0)
    assert s["best_f1_mean"] == 85.0 and s["best_epochs"] == [50, 25]
    assert s["worst_f1_mean"] == 30.0
    # After half the epochs (75 and 100): swings 20 and 0.
    assert s["late_swing_mean"] == 10.0


def test_every_outside_the_epoch_range_is_refused() -> None:
    with pytest.raises(ValueError, match="every"):
        run_epochs(DATA, datasets=["shuttle"], seeds=1, every=0)


@needs_data
def test_the_last_snapshot_is_the_table2_model_and_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "epochs.json"
    argv = ["bench", "epochs", "--data", str(DATA), "--datasets", "shuttle", "--seeds", "1"]
    assert main([*argv, "--every", "50", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    trace = result["shuttle"]["per_seed"]["0"]
    assert [s["epochs"] for s in trace] == [50, 100]
    from dhag.bench import make_dhag
    from dhag.bench.datasets import load_split
    from dhag.bench.metrics import f1_at_anomaly_rate

    split = load_split("shuttle", 0, DATA)
    det = make_dhag(0, split.passthrough, False, split.feature_names).fit(split.X_train)
    assert trace[-1]["f1"] == round(
        100 * f1_at_anomaly_rate(split.y_test, det.decision_function(split.X_test)), 2
    )
    assert result["shuttle"]["last_f1_mean"] == round(trace[-1]["f1"], 1)
    # After half of 100 epochs only the last snapshot is late: its mean score is its own score.
    late = result["shuttle"]["late_mean_per_seed"]["0"]
    assert late == {"epochs": [100], "f1": trace[-1]["f1"], "auroc": trace[-1]["auroc"]}
    assert "upper bound" in result["meta"]["note"]
    assert "| shuttle |" in format_epochs(result)


def test_one_fit_is_refused_where_fit_would_retry() -> None:
    for rules in ("retry", "retry-controller"):
        with pytest.raises(ValueError, match="never retries"):
            run_epochs(DATA, datasets=["shuttle"], seeds=1, rules=rules, one_fit=True)
    with pytest.raises(ValueError, match="Unknown rules"):
        run_epochs(DATA, datasets=["shuttle"], seeds=1, rules="sometimes")


@needs_data
def test_one_fit_gives_the_snapshots_of_fresh_trainings(tmp_path: Path) -> None:
    out = tmp_path / "epochs.json"
    argv = ["bench", "epochs", "--data", str(DATA), "--datasets", "shuttle", "--seeds", "1", "--every", "25"]
    assert main([*argv, "--dhag-rules", "none", "--one-fit", "--json", str(out)]) == 0
    one = json.loads(out.read_text())
    assert one["meta"]["one_fit"] is True and one["meta"]["dhag_rules"] == "none"
    fresh = run_epochs(DATA, datasets=["shuttle"], seeds=1, every=25, rules="none")
    assert fresh["meta"]["one_fit"] is False
    key = ("epochs", "f1", "auroc")
    trace = one["shuttle"]["per_seed"]["0"]
    assert [[s[k] for k in key] for s in trace] == [
        [s[k] for k in key] for s in fresh["shuttle"]["per_seed"][0]
    ]
    assert [s["epochs"] for s in trace] == [25, 50, 75, 100]
    assert len({s["f1"] for s in trace}) > 1  # the snapshots are different models
    late = one["shuttle"]["late_mean_per_seed"]["0"]
    assert late["epochs"] == [75, 100]
    assert late == fresh["shuttle"]["late_mean_per_seed"][0]


@needs_data
@pytest.mark.parametrize("one_fit", [False, True])
def test_the_weighting_and_recipe_reach_every_snapshots_training_and_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_fit: bool
) -> None:
    import dhag.bench.epochs as epochs
    from dhag.bench import make_dhag

    seen: list[tuple[str, str]] = []

    def recording(*args, **kwargs):
        det = make_dhag(*args, **kwargs)
        seen.append((det.ce_weighting, det.recipe))
        return det

    monkeypatch.setattr(epochs, "make_dhag", recording)
    out = tmp_path / "epochs.json"
    argv = ["bench", "epochs", "--data", str(DATA), "--datasets", "shuttle", "--seeds", "1", "--every", "50"]
    argv += ["--dhag-ce-weighting", "classes", "--dhag-recipe", "reference", "--json", str(out)]
    assert main([*argv, *(["--dhag-rules", "none", "--one-fit"] if one_fit else [])]) == 0
    assert seen == [("classes", "reference")] * (1 if one_fit else 2)
    meta = json.loads(out.read_text())["meta"]
    assert (meta["dhag_ce_weighting"], meta["dhag_recipe"]) == ("classes", "reference")
