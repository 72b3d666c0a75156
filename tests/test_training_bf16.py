"""The bf16 autocast path of training. The library takes it only on CUDA (``DHAG(bf16=True)`` on a CPU
trains in float32); these tests force it through torch's CPU autocast, so that the code a GPU runs is
exercised on a machine without one: both recipes, both perturbator games, the shifted-row anomalies
and the semi-supervised term."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from plant_data import auroc, fault_cluster, gross_outliers, normal

from dhag import DHAG
from dhag import estimator as estimator_module


def test_bf16_is_asked_for_only_where_it_runs_on_a_gpu() -> None:
    assert DHAG(bf16=True, device="cpu").training_config().bf16 is False
    assert DHAG(bf16=False, device="cpu").training_config().bf16 is False


@pytest.fixture
def forced_bf16(monkeypatch: pytest.MonkeyPatch) -> list[torch.dtype]:
    """Makes every fit train with ``bf16=True`` on the CPU; returns the dtypes that the encoder's
    first layer produced during training (a forward hook on every network built)."""
    original_config = estimator_module.train_config
    original_net = estimator_module.DHAGNet
    dtypes: list[torch.dtype] = []

    def with_bf16(est: DHAG):
        return dataclasses.replace(original_config(est), bf16=True)

    def hooked_net(*args, **kwargs):
        net = original_net(*args, **kwargs)
        first = next(m for m in net.encoder.modules() if isinstance(m, torch.nn.Linear))
        first.register_forward_hook(
            lambda _m, _i, out: dtypes.append(out.dtype) if torch.is_grad_enabled() else None
        )
        return net

    monkeypatch.setattr(estimator_module, "train_config", with_bf16)
    monkeypatch.setattr(estimator_module, "DHAGNet", hooked_net)
    return dtypes


@pytest.mark.parametrize(
    ("recipe", "game", "shift_weight"),
    [("paper", "cooperative", 1.0), ("paper", "adversarial", 0.0), ("reference", "cooperative", 0.0)],
)
def test_training_under_bf16_autocast_stays_finite_and_learns(
    forced_bf16: list[torch.dtype], train_rows: np.ndarray, recipe: str, game: str, shift_weight: float
) -> None:
    model = DHAG(
        max_epochs=15,
        batch_size=128,
        recipe=recipe,
        perturbator_game=game,
        shift_weight=shift_weight,
        collapse_retry=False,
        random_state=0,
    ).fit(train_rows)
    # The updates really ran in bf16 (scoring afterwards is float32, outside autocast).
    assert forced_bf16 and set(forced_bf16) == {torch.bfloat16}
    for record in model.training_["history"]:
        assert all(np.isfinite(record[key]) for key in ("loss", "ce", "norm", "div", "shifted", "val_loss"))
        assert (record["shifted"] > 0) == (shift_weight > 0)
    gen = np.random.default_rng(1)
    normal_scores = model.decision_function(normal(gen, 300))
    assert normal_scores.dtype == np.float64 and np.isfinite(normal_scores).all()
    # The float32 fits of these settings reach 0.97 or more on sensors pushed 6-9 sigma; a broken bf16
    # path (a constant score, or a ranking inverted by overflow) stays near or below 0.5.
    assert auroc(normal_scores, model.decision_function(gross_outliers(gen, 150))) > 0.9


def test_the_semi_supervised_term_trains_under_bf16(
    forced_bf16: list[torch.dtype],
) -> None:
    # One recurring fault inside the sensors' ranges. Without labels the float32 fit of these rows
    # reaches AUROC 0.78 on it; with 20 of its rows labelled, 1.0 (test_estimator's semi-supervised
    # test). Under bf16 the labels must teach it as well.
    gen = np.random.default_rng(200)
    rows, known = normal(gen, 800), fault_cluster(gen, 20)
    test_normal, test_fault = normal(gen, 300), fault_cluster(gen, 100)
    labels = np.r_[np.zeros(len(rows), dtype=int), np.ones(len(known), dtype=int)]
    model = DHAG(max_epochs=15, batch_size=128, shift_weight=0.0, random_state=0)
    model.fit(np.vstack([rows, known]), labels)
    assert set(forced_bf16) == {torch.bfloat16}
    for record in model.training_["history"]:
        assert np.isfinite(record["loss"]) and np.isfinite(record["val_loss"])
    assert auroc(model.decision_function(test_normal), model.decision_function(test_fault)) > 0.95
