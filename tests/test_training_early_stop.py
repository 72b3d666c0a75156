"""Early stopping's choice of the epoch kept, where the held-out loss is not a finite number."""

from __future__ import annotations

import math

import numpy as np
import torch

import dhag.training as training
from dhag import DHAG
from dhag.modules import DHAGNet
from dhag.params import train_config


def _train_with_held_out_losses(monkeypatch, losses: list[float]) -> training.TrainResult:
    calls = iter(losses)

    def held_out_loss(*args, **kwargs) -> dict[str, float]:
        value = next(calls)
        return {"total": value, "ce": value, "norm": 0.0, "div": 0.0}

    monkeypatch.setattr(training, "evaluate_loss", held_out_loss)
    cfg = train_config(DHAG(max_epochs=len(losses), early_stopping=True, patience=2, device="cpu"))
    gen = torch.Generator().manual_seed(0)
    rows = torch.randn(64, 3, generator=gen)
    net = DHAGNet(n_features=3)
    return training.train(net, rows[:48], cfg, x_val=rows[48:], generator=gen)


def test_a_first_epoch_whose_held_out_loss_is_nan_is_not_kept_over_later_finite_ones(monkeypatch) -> None:
    # A NaN first held-out loss became the best, which no later loss compares below: early stopping
    # stopped after `patience` epochs and kept the NaN epoch's weights.
    result = _train_with_held_out_losses(monkeypatch, [math.nan, 3.0, 2.0, 1.5, 1.4, 1.3])
    assert result.best_epoch == 6 and result.stopped_by == "max_epochs"


def test_an_infinite_held_out_loss_is_beaten_by_a_finite_one(monkeypatch) -> None:
    result = _train_with_held_out_losses(monkeypatch, [math.inf, 3.0, 3.5, 3.6, 3.7])
    assert result.best_epoch == 2 and result.stopped_by == "early_stopping"


def test_later_nan_losses_leave_the_best_finite_epoch_kept(monkeypatch) -> None:
    result = _train_with_held_out_losses(monkeypatch, [3.0, 2.0, math.nan, math.nan, math.nan])
    assert result.best_epoch == 2 and result.stopped_by == "early_stopping"


def test_early_stopping_without_held_out_rows_says_it_watches_the_training_objective(caplog) -> None:
    # With validation_fraction=0 (or a table too small to hold 2 rows out) early stopping watched the
    # training objective, which the documentation never says, in silence.
    rows = np.random.default_rng(0).normal(size=(40, 3))
    with caplog.at_level("WARNING", logger="dhag"):
        DHAG(max_epochs=2, early_stopping=True, validation_fraction=0, random_state=0).fit(rows)
    assert "early_stopping has 0 held-out normal rows to watch (it needs 2; validation_fraction sets" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="dhag"):
        DHAG(max_epochs=2, early_stopping=True, random_state=0).fit(rows)
    assert "early_stopping" not in caplog.text
