"""A model saved before fit refused target_far beside contamination retrains as it was trained."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from plant_data import FEATURES, normal
from retrain_data import SETTINGS, _readings
from safetensors.torch import load as st_load

from dhag import DHAG, ParameterError, load_model, read_manifest
from dhag.artifact import write_artifact
from dhag.cli import main
from pipeline.retrain.samples import TrainingData
from pipeline.retrain.training import train_candidate


def saved_with_both(path: Path, target_far: float, contamination: float = 0.05) -> Path:
    """A model trained with ``contamination`` and saved, as releases before the refusal wrote one given
    ``target_far`` too: both in its settings (the threshold came from contamination)."""
    rows = normal(np.random.default_rng(0), 1000)
    model = DHAG(
        max_epochs=3, batch_size=128, feature_names=FEATURES, random_state=0, contamination=contamination
    ).fit(rows)
    model.save(path)
    manifest = read_manifest(path)
    manifest["settings"]["target_far"] = target_far
    return write_artifact(path, manifest, st_load(path.read_bytes()))


@pytest.mark.parametrize("target_far", [0.05, 0.02])
def test_a_model_saved_with_both_retrains_from_contamination_saying_target_far_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, target_far: float
) -> None:
    # Before, the candidate's fit refused the pair it was given from the current model's settings: every
    # run of the retrainer failed, for as long as that model was current.
    current = load_model(saved_with_both(tmp_path / "old.dhag", target_far))
    assert (current.target_far, current.contamination) == (target_far, 0.05)
    rng = np.random.default_rng(1)
    data = TrainingData([], [], _readings(normal(rng, 600), 0.0), [], _readings(normal(rng, 400), 2000.0))
    with caplog.at_level(logging.WARNING, logger="pipeline.retrain.training"):
        candidate = train_candidate(current, data, SETTINGS)
    notes = [r.getMessage() for r in caplog.records if r.name == "pipeline.retrain.training"]
    assert len(notes) == 1, notes
    assert f"target_far {target_far:g}" in notes[0] and "contamination 0.05 sets the threshold" in notes[0]
    assert candidate.contamination == 0.05 and candidate.target_far is None
    assert candidate.training_["dropped_settings"] == {"target_far": target_far}
    # Its threshold flags the contamination share of the unseen normal blocks, as its parent's did.
    flagged = float(np.mean(candidate.decision_function(normal(rng, 20_000)) > candidate.threshold_))
    assert 0.02 <= flagged <= 0.1, flagged
    again = load_model(candidate.save(tmp_path / "new.dhag"))
    assert again.target_far is None and again.training_["dropped_settings"] == {"target_far": target_far}
    # A new model given both, from these settings by hand, is still refused.
    with pytest.raises(ParameterError, match="'target_far' and 'contamination'"):
        DHAG(**current.get_params()).fit(normal(rng, 300))


def test_a_model_given_one_of_them_retrains_with_no_note(
    fitted: DHAG, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(2)
    # 1000 calibration readings: enough that its threshold is not warned about either.
    data = TrainingData([], [], _readings(normal(rng, 600), 0.0), [], _readings(normal(rng, 1000), 2000.0))
    with caplog.at_level(logging.WARNING, logger="pipeline.retrain.training"):
        candidate = train_candidate(fitted, data, SETTINGS)
    assert not [r for r in caplog.records if r.name == "pipeline.retrain.training"]
    assert "dropped_settings" not in candidate.training_


def test_dhag_info_says_how_the_threshold_is_set_and_what_a_retrain_drops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fitted: DHAG
) -> None:
    # Before, info named neither setting: the model retrained without target_far, unsaid.
    old = saved_with_both(tmp_path / "old.dhag", 0.05)
    assert main(["info", str(old)]) == 0
    out = capsys.readouterr().out
    assert "(contamination 0.05: the share of the training rows flagged)" in out
    assert (
        "retrain: target_far 0.05 is dropped: contamination 0.05 sets the threshold" in out
        and "the retrainer trains candidates without it" in out
    )
    rng = np.random.default_rng(3)
    data = TrainingData([], [], _readings(normal(rng, 600), 0.0), [], _readings(normal(rng, 200), 2000.0))
    candidate = train_candidate(load_model(old), data, SETTINGS)
    assert main(["info", str(candidate.save(tmp_path / "new.dhag"))]) == 0
    out = capsys.readouterr().out
    assert "retrained without its parent's target_far 0.05" in out and "retrain:" not in out
    assert main(["info", str(fitted.save(tmp_path / "plain.dhag"))]) == 0
    out = capsys.readouterr().out
    assert "(target_far 0.01: the false-alarm rate on held-out normal rows)" in out
    assert "retrain" not in out
