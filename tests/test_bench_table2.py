"""The Table 2 command's DHAG settings: library defaults, the plant model's shifted-row rule, weight
averaging, or the anti-collapse rules on their own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dhag.bench import GAMES, RULES, make_dhag, run_table2
from dhag.bench.datasets import Split, load_split, power_transformed
from dhag.bench.metrics import f1_at_anomaly_rate
from dhag.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark datasets not found at {DATA}")


def _shuttle_run(tmp_path: Path, *options: str) -> dict:
    """``dhag bench table2`` on Shuttle, seed 0, with ``options``; the JSON it wrote."""
    out = tmp_path / "t2.json"
    argv = ["bench", "table2", "--data", str(DATA), "--datasets", "shuttle", "--seeds", "1", *options]
    assert main([*argv, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_make_dhag_keeps_the_library_defaults_unless_beyond_is_asked_for() -> None:
    default, offset, beyond = (
        make_dhag(0),
        make_dhag(0, shift_mode="offset"),
        make_dhag(0, shift_mode="beyond"),
    )
    assert (default.shift_mode, default.shift_range) == ("offset", (2.0, 4.0))
    assert offset.get_params() == default.get_params()
    assert (beyond.shift_mode, beyond.shift_range) == ("beyond", (0.0, 2.0))
    assert {k: v for k, v in beyond.get_params().items() if not k.startswith("shift_")} == {
        k: v for k, v in default.get_params().items() if not k.startswith("shift_")
    }


@needs_data
def test_the_shift_mode_of_a_run_is_recorded_with_its_results(tmp_path: Path) -> None:
    result = _shuttle_run(tmp_path, "--detectors", "dhag", "--dhag-shift-mode", "beyond")
    assert result["meta"]["dhag_shift_mode"] == "beyond"
    assert "shift_mode='beyond'" in result["shuttle"]["dhag"]["note"]
    plain = run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"])
    assert plain["meta"]["dhag_shift_mode"] == "offset" and "beyond" not in plain["shuttle"]["dhag"]["note"]
    assert plain["meta"]["dhag_average_weights"] is False
    assert plain["shuttle"]["dhag"]["per_seed"][0]["averaged_epochs"] == 0


def test_make_dhag_averages_weights_only_when_asked() -> None:
    assert make_dhag(0).average_weights is False
    averaged = make_dhag(0, average_weights=True)
    assert averaged.average_weights is True
    assert {k: v for k, v in averaged.get_params().items() if k != "average_weights"} == {
        k: v for k, v in make_dhag(0).get_params().items() if k != "average_weights"
    }


@needs_data
def test_weight_averaging_is_recorded_with_its_results(tmp_path: Path) -> None:
    result = _shuttle_run(tmp_path, "--detectors", "dhag", "--dhag-average-weights")
    assert result["meta"]["dhag_average_weights"] is True
    run = result["shuttle"]["dhag"]["per_seed"][0]
    assert "average_weights=True" in result["shuttle"]["dhag"]["note"]
    # Shuttle trains 100 epochs (no collapse, no retry): epochs 51-100 are averaged.
    assert run["averaged_epochs"] == 50 and run["attempts"] == 1


def _skewed_split() -> Split:
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.lognormal(0, 1, 400), np.ones(400), rng.integers(0, 2, 400)]).astype(float)
    test = np.column_stack([rng.lognormal(0, 1, 50), np.ones(50), rng.integers(0, 2, 50)]).astype(float)
    return Split("toy", 0, train, test, np.zeros(50, np.int64), ("skewed", "constant", "flag"), ("flag",))


def test_the_power_transform_is_fitted_on_training_rows_and_spares_one_hot_and_constant_columns() -> None:
    from scipy.stats import skew
    from sklearn.preprocessing import PowerTransformer

    split = _skewed_split()
    out = power_transformed(split)
    assert abs(skew(out.X_train[:, 0])) < 0.5 < 2.0 < skew(split.X_train[:, 0])
    expected = PowerTransformer().fit(split.X_train[:, [0]]).transform(split.X_test[:, [0]])[:, 0]
    np.testing.assert_allclose(out.X_test[:, 0], expected)
    for col in (1, 2):
        np.testing.assert_array_equal(out.X_train[:, col], split.X_train[:, col])
        np.testing.assert_array_equal(out.X_test[:, col], split.X_test[:, col])
    assert split.X_train[0, 0] != out.X_train[0, 0]  # the input split is left as it was


def test_an_unknown_transform_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="Unknown transform"):
        run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["knn"], transform="log")


@needs_data
def test_the_transform_of_a_run_is_recorded_and_changes_the_inputs(tmp_path: Path) -> None:
    result = _shuttle_run(tmp_path, "--detectors", "knn", "--transform", "yeo-johnson")
    assert result["meta"]["transform"] == "yeo-johnson"
    plain = run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["knn"])
    assert plain["meta"]["transform"] == "zscore"
    assert plain["shuttle"]["knn"]["per_seed"][0]["auroc"] != result["shuttle"]["knn"]["per_seed"][0]["auroc"]


def test_each_choice_of_rules_sets_exactly_its_rules() -> None:
    # (shift_weight, ce_target, collapse_retry, retry_ce_target) for each choice.
    expected = {
        "retry": (0.0, None, True, None),
        "retry-controller": (0.0, None, True, 0.9),
        "none": (0.0, None, False, None),
        "always": (1.0, 0.9, False, None),
        "shift": (1.0, None, False, None),
        "controller": (0.0, 0.9, False, None),
    }
    assert set(expected) == set(RULES)
    keys = ("shift_weight", "ce_target", "collapse_retry", "retry_ce_target")
    default = make_dhag(0).get_params()
    for rules, settings in expected.items():
        det = make_dhag(0, rules=rules)
        assert tuple(getattr(det, k) for k in keys) == settings, rules
        others = {k: v for k, v in det.get_params().items() if k not in keys}
        assert others == {k: v for k, v in default.items() if k in others}, rules
    with pytest.raises(ValueError, match="Unknown rules"):
        make_dhag(0, rules="sometimes")
    with pytest.raises(ValueError, match="Unknown rules"):
        run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"], dhag_rules="sometimes")


@needs_data
def test_a_run_with_one_rule_trains_what_a_fit_with_that_rule_trains(tmp_path: Path) -> None:
    result = _shuttle_run(tmp_path, "--detectors", "dhag", "--dhag-rules", "controller")
    assert result["meta"]["dhag_rules"] == "controller"
    assert "L_ce controller from the first update" in result["shuttle"]["dhag"]["note"]
    run = result["shuttle"]["dhag"]["per_seed"][0]
    # The controller moved lambda1 from its starting 1.0; nothing was retried.
    assert run["attempts"] == 1 and run["lambda_norm_final"] != 1.0
    plain = run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"])
    assert plain["meta"]["dhag_rules"] == "retry"
    assert plain["shuttle"]["dhag"]["per_seed"][0]["lambda_norm_final"] == 1.0
    assert plain["shuttle"]["dhag"]["per_seed"][0]["auroc"] != run["auroc"]


@pytest.mark.parametrize(
    ("option", "setting", "default", "other", "message"),
    [
        ("game", "perturbator_game", "cooperative", "adversarial", "Unknown game"),
        ("ce_weighting", "ce_weighting", "rows", "classes", "Unknown ce_weighting"),
        ("recipe", "recipe", "paper", "reference", "Unknown recipe"),
    ],
)
def test_the_game_and_weighting_options_set_only_their_setting(
    option: str, setting: str, default: str, other: str, message: str
) -> None:
    assert GAMES == ("cooperative", "adversarial")
    plain = make_dhag(0).get_params()
    assert plain[setting] == default
    assert make_dhag(0, **{option: other}).get_params() == {**plain, setting: other}
    with pytest.raises(ValueError, match=message):
        run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"], **{f"dhag_{option}": "bogus"})


@needs_data
@pytest.mark.parametrize(
    ("flag", "key", "value", "default", "note"),
    [
        ("--dhag-game", "dhag_game", "adversarial", "cooperative", "perturbator_game='adversarial'"),
        ("--dhag-ce-weighting", "dhag_ce_weighting", "classes", "rows", "ce_weighting='classes'"),
        ("--dhag-recipe", "dhag_recipe", "reference", "paper", "recipe='reference'"),
    ],
)
def test_a_game_or_weighting_run_is_recorded_and_trains_another_model(
    tmp_path: Path, flag: str, key: str, value: str, default: str, note: str
) -> None:
    result = _shuttle_run(tmp_path, "--detectors", "dhag", flag, value)
    assert result["meta"][key] == value
    assert note in result["shuttle"]["dhag"]["note"]
    plain = run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"])
    assert plain["meta"][key] == default
    assert value not in plain["shuttle"]["dhag"]["note"]
    other_auroc = result["shuttle"]["dhag"]["per_seed"][0]["auroc"]
    assert plain["shuttle"]["dhag"]["per_seed"][0]["auroc"] != other_auroc


def test_a_result_names_the_cpu_and_the_kernels_torch_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from dhag.bench import run_meta

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    machine = run_meta("cmd")["machine"]
    # Per-seed results depend on the floating-point path, so a result says which one it took.
    assert machine["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert machine["aten_cpu_capability_env"] == "default"
    assert machine["cpu_model"] is None or (isinstance(machine["cpu_model"], str) and machine["cpu_model"])


def test_the_bench_ensemble_is_the_librarys_and_records_each_members_result() -> None:
    from dhag.bench.table2 import _run_dhag

    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 3))
    test = np.vstack([rng.normal(size=(40, 3)), rng.normal(size=(10, 3)) + 6.0])
    split = Split("toy", 0, train, test, np.r_[np.zeros(40), np.ones(10)].astype(np.int64), ("a", "b", "c"))
    scores, info = _run_dhag(split, 7, False, members=2)
    library = make_dhag(7)
    library.n_members = 2
    members = library.fit(train).member_scores(test)
    np.testing.assert_array_equal(scores, members.mean(axis=0))
    assert [m["f1"] for m in info["members"]] == [f1_at_anomaly_rate(split.y_test, s) for s in members]
    assert [m["seed"] for m in info["members"]] == [7, 1007] and info["members"][0]["attempts"] >= 1
    assert "mean score of 2 such models" in info["note"] and "n_members=2" in info["note"]
    one, one_info = _run_dhag(split, 7, False)
    np.testing.assert_array_equal(one, make_dhag(7).fit(train).decision_function(test))
    np.testing.assert_array_equal(members[0], one)  # member 0 is the library's single model
    assert "members" not in one_info and "mean score" not in one_info["note"]
    with pytest.raises(ValueError, match="dhag_members must be an int >= 1"):
        run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"], dhag_members=0)


@needs_data
def test_the_members_option_is_recorded_with_each_members_result(tmp_path: Path) -> None:
    result = _shuttle_run(tmp_path, "--detectors", "dhag", "--dhag-members", "2")
    assert result["meta"]["dhag_members"] == 2
    run = result["shuttle"]["dhag"]["per_seed"][0]
    assert len(run["members"]) == 2 and all(0 <= m["f1"] <= 1 and m["attempts"] >= 1 for m in run["members"])


@needs_data
def test_the_snapshots_option_is_recorded_and_scores_by_the_librarys_snapshot_ensemble(
    tmp_path: Path,
) -> None:
    result = _shuttle_run(tmp_path, "--detectors", "dhag", "--dhag-snapshots", "3")
    assert result["meta"]["dhag_snapshots"] == 3
    run = result["shuttle"]["dhag"]
    assert "(snapshots=3)" in run["note"]
    split = load_split("shuttle", 0, DATA)
    library = make_dhag(0, split.passthrough, False, split.feature_names)
    library.snapshots = 3
    scores = library.fit(split.X_train).decision_function(split.X_test)
    assert run["per_seed"][0]["f1"] == round(f1_at_anomaly_rate(split.y_test, scores), 4)
    with pytest.raises(ValueError, match="dhag_snapshots must be an int >= 1"):
        run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"], dhag_snapshots=0)


@needs_data
def test_semisup_passes_the_ce_weighting_and_recipe_to_every_fit_and_records_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dhag.bench.semisup as semisup

    seen: list[tuple[str, str]] = []

    def recording(*args, **kwargs):
        det = make_dhag(*args, **kwargs)
        det.max_epochs = 2  # the setting's path is what is checked here, not the model
        seen.append((det.ce_weighting, det.recipe))
        return det

    monkeypatch.setattr(semisup, "make_dhag", recording)
    out = tmp_path / "semisup.json"
    argv = ["bench", "semisup", "--data", str(DATA), "--seeds", "2", "--dhag-ce-weighting", "classes"]
    assert main([*argv, "--dhag-recipe", "reference", "--json", str(out)]) == 0
    assert seen == [("classes", "reference")] * 6  # three gammas, two seeds
    meta = json.loads(out.read_text())["meta"]
    assert (meta["dhag_ce_weighting"], meta["dhag_recipe"]) == ("classes", "reference")
    seen.clear()
    assert main(["bench", "semisup", "--data", str(DATA), "--seeds", "1", "--json", str(out)]) == 0
    assert seen == [("rows", "paper")] * 3
    meta = json.loads(out.read_text())["meta"]
    assert (meta["dhag_ce_weighting"], meta["dhag_recipe"]) == ("rows", "paper")
