"""Weight averaging (``average_weights=True``, off by default): the model kept is the mean of the
end-of-epoch weights over the second half of the planned epochs, on the same training trajectory as
without averaging."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from plant_data import normal

import dhag.retry
from dhag import DHAG, ParameterError
from dhag.artifact import load_model, read_manifest
from dhag.modules import DHAGNet
from dhag.training import averaging_start, train


def _config(**changes):
    return dataclasses.replace(DHAG(batch_size=64, max_epochs=6, max_steps=None).training_config(), **changes)


def _train_with_snapshots(rows: np.ndarray, cfg) -> tuple[DHAGNet, object, list[dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    net = DHAGNet(n_features=rows.shape[1])
    snapshots: list[dict[str, torch.Tensor]] = []

    def keep(_record):
        snapshots.append({k: v.detach().clone() for k, v in net.state_dict().items()})

    x = torch.as_tensor(rows)
    result = train(net, x, cfg, generator=torch.Generator().manual_seed(0), on_epoch=keep)
    return net, result, snapshots


def test_the_kept_weights_are_the_mean_of_the_second_half_of_the_epochs(rng) -> None:
    rows = normal(rng, 640).astype(np.float32)
    net, result, snapshots = _train_with_snapshots(rows, _config(average_weights=True))
    assert result.epochs_run == 6 and result.averaged_epochs == 3
    for name, value in net.state_dict().items():
        expected = torch.stack([s[name] for s in snapshots[3:]]).mean(dim=0)
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    # ... and not the last epoch's (the weights move from epoch to epoch).
    assert any(not torch.equal(v, snapshots[-1][k]) for k, v in net.state_dict().items())


def test_averaging_leaves_the_training_trajectory_alone(rng) -> None:
    rows = normal(rng, 640).astype(np.float32)
    plain, plain_result, plain_snaps = _train_with_snapshots(rows, _config(average_weights=False))
    _, averaged_result, averaged_snaps = _train_with_snapshots(rows, _config(average_weights=True))
    assert plain_result.history == averaged_result.history
    assert plain_result.averaged_epochs == 0
    for a, b in zip(plain_snaps, averaged_snaps, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    # Without averaging the last epoch's weights are kept.
    assert all(torch.equal(v, plain_snaps[-1][k]) for k, v in plain.state_dict().items())


def test_averaging_starts_halfway_through_the_planned_epochs() -> None:
    assert averaging_start(_config(max_epochs=100, max_steps=None), n_batches=7) == 50
    # An update limit that ends training first shortens the plan: 20,000 updates of 390 = 52 epochs.
    assert averaging_start(_config(max_epochs=100, max_steps=20_000), n_batches=390) == 26
    assert averaging_start(_config(max_epochs=1, max_steps=None), n_batches=3) == 0


def test_a_time_budget_that_ends_training_before_the_second_half_keeps_the_last_weights(rng) -> None:
    rows = normal(rng, 640).astype(np.float32)
    cfg = _config(max_epochs=1000, time_budget=0.0, average_weights=True)
    net, result, snapshots = _train_with_snapshots(rows, cfg)
    assert result.stopped_by == "time_budget" and result.epochs_run == 1
    assert result.averaged_epochs == 0
    assert all(torch.equal(v, snapshots[-1][k]) for k, v in net.state_dict().items())


def test_early_stopping_keeps_its_own_epoch_and_does_not_average(rng, quick_model) -> None:
    model = quick_model(max_epochs=6, early_stopping=True, patience=2, average_weights=True)
    model.fit(normal(rng, 400))
    assert model.training_["averaged_epochs"] == 0


def test_the_estimator_records_the_averaged_epochs_and_a_retry_averages_too(train_rows) -> None:
    model = DHAG(max_epochs=4, batch_size=128, random_state=0, average_weights=True).fit(train_rows)
    assert model.training_["averaged_epochs"] == 2
    assert (
        DHAG(max_epochs=4, batch_size=128, random_state=0).fit(train_rows).training_["averaged_epochs"] == 0
    )
    # The collapse retry (tests/test_training_rules.py) trains with the same averaging rule.
    params = {"max_epochs": 3, "batch_size": 128, "lr": 1e-7, "random_state": 0, "average_weights": True}
    retried = DHAG(**params).fit(train_rows)
    assert len(retried.training_["attempts"]) == 2
    assert retried.training_["averaged_epochs"] == 2
    assert dhag.retry.RETRY_SETTINGS.keys().isdisjoint({"average_weights"})


def test_average_weights_must_be_a_bool(rng) -> None:
    with pytest.raises(ParameterError, match="average_weights"):
        DHAG(average_weights="yes").fit(normal(rng, 50))


def test_an_averaged_model_keeps_the_setting_through_save_and_load(
    train_rows, tmp_path, save_without_setting
) -> None:
    # A retrain from the loaded model's settings averages again; an artifact written before the
    # setting existed loads with the default, the last weights, which is how it was trained.
    model = DHAG(max_epochs=3, batch_size=128, random_state=0, average_weights=True).fit(train_rows)
    loaded = load_model(model.save(tmp_path / "averaged.dhag"))
    assert loaded.average_weights is True and loaded.training_["averaged_epochs"] == 2
    rows = normal(np.random.default_rng(0), 20)
    np.testing.assert_array_equal(loaded.decision_function(rows), model.decision_function(rows))
    old = save_without_setting(model, tmp_path / "old.dhag", "average_weights")
    assert "average_weights" not in read_manifest(old)["settings"]
    assert load_model(old).average_weights is False
