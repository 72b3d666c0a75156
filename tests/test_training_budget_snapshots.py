"""A ``time_budget`` with ``snapshots`` > 1: the room training leaves for scoring the rows for the
threshold counts the networks the fit will keep, not ``snapshots`` of them each, which a training the
budget stops before its second half never keeps (it keeps its last weights alone). Each snapshot training
keeps takes room from what is left of its budget as it is kept."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

import dhag.training
from dhag import DHAG
from dhag.modules import DHAGNet
from dhag.training import TrainResult

SECONDS_PER_ROW = 1e-4  # scoring made slow, the same on a busy machine as on an idle one
# 10,000 rows (9,000 trained on, 1,000 held out) and the probe's 2 x 1,000: 1.2 s per network kept.
ROWS, PER_NETWORK = 10_000, 1.2


@pytest.fixture
def slow_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    DHAG(max_epochs=1, random_state=0).fit(np.zeros((300, 3)))  # torch's first-use imports, outside
    real = DHAGNet.scores_and_logits

    def slow(self, matrix, **kwargs):  # noqa: ANN001, ANN003, ANN202
        time.sleep(len(matrix) * SECONDS_PER_ROW)
        return real(self, matrix, **kwargs)

    monkeypatch.setattr(DHAGNet, "scores_and_logits", slow)


def test_a_training_the_budget_stops_early_gets_the_room_its_snapshots_would_have_taken(
    slow_scoring, caplog
) -> None:
    X = np.random.default_rng(0).normal(size=(ROWS, 3))
    model = DHAG(
        max_epochs=10_000, batch_size=256, snapshots=4, time_budget=5.0, collapse_retry=False, random_state=0
    )
    started = time.perf_counter()
    with caplog.at_level("WARNING", logger="dhag"):
        model.fit(X)
    seconds = time.perf_counter() - started
    t = model.training_
    assert t["stopped_by"] == "time_budget" and "snapshot_epochs" not in t  # its last weights alone
    # Before: room for 4 networks (4.8 s) of the 5 s: training got its floor of 0.5 s, the fit ended
    # after about 2.6 s, and a warning said it might run past its budget.
    assert not [r for r in caplog.records if "run past" in r.getMessage()]
    assert t["train_seconds"] > 5.0 - PER_NETWORK - 1.0 - 0.5, t["train_seconds"]
    assert seconds < 5.0 + 1.0, seconds


def test_a_training_that_keeps_snapshots_leaves_room_for_each_in_its_budget(monkeypatch) -> None:
    # A clock that moves by one second an update: 10 updates an epoch, 8 epochs, snapshots of 5 to 8.
    clock = [0.0]
    real = dhag.training.train_step

    def step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        clock[0] += 1.0
        return real(*args, **kwargs)

    monkeypatch.setattr(dhag.training, "train_step", step)
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    cfg = _cfg(max_epochs=8, batch_size=10, snapshots=4, time_budget=70.0, snapshot_seconds=10.0)
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(100, 3)), dtype=torch.float32)
    result = dhag.training.train(DHAGNet(n_features=3), x, cfg, generator=torch.Generator().manual_seed(0))
    # 60 s of training and 10 s each for the second and third networks kept: the 70 s of its budget
    # (room for the first was made before). Before: 70 s of training, and three snapshots (5, 6, 7)
    # whose scoring came after the whole budget.
    assert result.stopped_by == "time_budget"
    assert result.snapshot_epochs == [5, 6] and clock[0] == 60.0


def _cfg(**given: float) -> dhag.training.TrainConfig:
    from dhag.params import train_config

    return dataclasses.replace(train_config(DHAG()), **given)


def test_each_snapshot_kept_takes_its_scoring_from_the_budget() -> None:
    from dhag.scoringroom import past_budget

    cfg = _cfg(time_budget=10.0, snapshot_seconds=2.0)
    result = TrainResult(best_epoch=0, epochs_run=0, stopped_by="max_epochs", seconds=0.0)
    ran = 7.0  # seconds of training so far
    assert not past_budget(cfg, ran, result)  # stopped now: its last weights alone, room made for
    result.snapshot_states.append({})
    assert not past_budget(cfg, ran, result)  # stopped now: the snapshot and the last weights: 8 s
    # At the end of an epoch whose snapshot is kept: going on would keep its last weights beside two.
    assert past_budget(cfg, ran, result, snapshot_due=True)
    result.snapshot_states.append({})
    assert past_budget(cfg, ran, result)
    assert not past_budget(dataclasses.replace(cfg, time_budget=None), ran, result)


def test_a_training_the_budget_stops_says_it_kept_fewer_snapshots(caplog) -> None:
    rows = np.random.default_rng(0).normal(size=(4000, 4))
    with caplog.at_level("WARNING", logger="dhag"):
        model = DHAG(snapshots=4, max_epochs=50, batch_size=64, time_budget=0.5, random_state=0).fit(rows)
    assert model.training_["stopped_by"] == "time_budget"
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("snapshots=4")]
    assert (
        len(said) == 1 and "time_budget stopped training at epoch" in said[0] and "of 50 planned" in said[0]
    )
