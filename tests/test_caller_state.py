"""A fit, a load and scoring leave the caller's process-wide state alone: torch's random stream and
threads, numpy's global stream, torch's mode flags."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from plant_data import normal


def test_fit_leaves_the_global_torch_random_stream_alone(quick_model, rng) -> None:
    rows = normal(rng, 200)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    quick_model(random_state=0).fit(rows)
    assert torch.equal(torch.rand(3), expected), "fit reseeded or consumed the process-wide torch RNG"


def test_fit_and_scoring_leave_the_callers_process_wide_settings_alone(quick_model, rng) -> None:
    def settings() -> dict:
        return {
            "threads": torch.get_num_threads(),
            "numpy_stream": np.random.get_state()[1].tolist(),
            "grad": torch.is_grad_enabled(),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "matmul_precision": torch.get_float32_matmul_precision(),
            "default_dtype": torch.get_default_dtype(),
        }

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(max(1, threads - 1))
        np.random.seed(5)
        before = settings()
        model = quick_model(random_state=None, snapshots=2, max_epochs=4).fit(normal(rng, 300))
        model.explain(normal(rng, 3))
        assert settings() == before
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("settings", [{"snapshots": 3, "max_epochs": 6}, {"n_members": 2}])
def test_a_fit_that_keeps_several_networks_leaves_the_global_torch_random_stream_alone(
    quick_model, rng, settings: dict
) -> None:
    rows = normal(rng, 300)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = quick_model(random_state=0, **settings).fit(rows)
    assert model.member_scores(rows[:2]).shape[0] > 1  # it did keep several
    assert torch.equal(torch.rand(3), expected), "fit reseeded or consumed the process-wide torch RNG"


@pytest.mark.parametrize("settings", [{}, {"ce_target": 0.5}, {"n_members": 2, "snapshots": 2}])
def test_a_seeded_fit_trains_the_same_model_whatever_torchs_default_dtype(
    quick_model, rng, tmp_path, settings: dict
) -> None:
    rows = normal(rng, 300)
    expected = quick_model(**settings).fit(rows)
    torch.set_default_dtype(torch.float64)
    try:
        model = quick_model(**settings).fit(rows)
        assert torch.get_default_dtype() == torch.float64  # the caller's setting, left alone
        loaded = type(model).load(model.save(tmp_path / "m.dhag"))
        assert loaded.decision_function(rows).tolist() == model.decision_function(rows).tolist()
    finally:
        torch.set_default_dtype(torch.float32)
    assert model.threshold_ == expected.threshold_
    assert model.decision_function(rows).tolist() == expected.decision_function(rows).tolist()
    for record in ("history", "lambda_norm_final"):  # the record of the training too, to the last bit
        assert model.training_[record] == expected.training_[record]


@pytest.mark.parametrize(
    "mode",
    [torch.no_grad, torch.inference_mode, lambda: torch.set_grad_enabled(False)],
    ids=["no_grad", "inference_mode", "set_grad_enabled"],
)
def test_a_fit_within_the_callers_no_grad_trains_as_outside_it(quick_model, rng, mode) -> None:
    rows = normal(rng, 300)
    expected = quick_model().fit(rows)
    with mode():
        model = quick_model().fit(rows)
        assert not torch.is_grad_enabled()  # the caller's mode, left as it was
    assert model.decision_function(rows).tolist() == expected.decision_function(rows).tolist()
    assert model.threshold_ == expected.threshold_


@pytest.mark.parametrize("settings", [{}, {"snapshots": 2, "max_epochs": 4}])
def test_a_seeded_fit_and_a_load_are_the_same_whatever_torchs_default_device(
    quick_model, rng, tmp_path, settings: dict
) -> None:
    # A notebook on a GPU sets torch.set_default_device("cuda"); the meta device, where tensors hold no
    # data, moves torch's default as that does and needs no GPU.
    rows = normal(rng, 300)
    expected = quick_model(**settings).fit(rows)
    path = expected.save(tmp_path / "m.dhag")
    torch.set_default_device("meta")
    try:
        model, loaded = quick_model(**settings).fit(rows), type(expected).load(path)
        assert torch.get_default_device().type == "meta"  # the caller's setting, left alone
    finally:
        torch.set_default_device(None)  # as the test found it: none set
    assert model.decision_function(rows).tolist() == expected.decision_function(rows).tolist()
    assert loaded.decision_function(rows).tolist() == expected.decision_function(rows).tolist()
    assert model.threshold_ == expected.threshold_


def test_fit_and_scoring_within_the_callers_autocast_compute_as_outside_it(quick_model, rng) -> None:
    # A mixed-precision notebook runs its own work in torch.autocast: the model's scores, threshold
    # and training are still float32's (bf16=True is the setting that trains in bfloat16, on CUDA).
    rows = normal(rng, 300)
    expected = quick_model(early_stopping=True).fit(rows)  # its held-out objective each epoch, too
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model = quick_model(early_stopping=True).fit(rows)
        scores = model.decision_function(rows)
        explained = expected.explain(rows[:2], logit_drops=True)
    assert scores.tolist() == expected.decision_function(rows).tolist()
    assert model.threshold_ == expected.threshold_
    assert model.training_["history"] == expected.training_["history"]
    assert explained == expected.explain(rows[:2], logit_drops=True)
