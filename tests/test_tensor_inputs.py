"""Rows given as torch tensors, as a caller whose data is already in torch has them: read as the numbers
they hold, whether they require grad, and whatever their dtype numpy lacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from plant_data import normal

from dhag import DHAG, InputError


def test_rows_that_require_grad_are_read_as_their_values(fitted: DHAG, quick_model, rng) -> None:
    # fit, decision_function and predict raised torch's own RuntimeError, "Can't call numpy() on Tensor
    # that requires grad", where a tensor that does not require grad was read.
    rows = normal(rng, 300).astype(np.float32)
    tensor = torch.tensor(rows, requires_grad=True)
    np.testing.assert_array_equal(fitted.decision_function(tensor), fitted.decision_function(rows))
    np.testing.assert_array_equal(fitted.predict(tensor), fitted.predict(rows))
    np.testing.assert_array_equal(fitted.transform(tensor), fitted.transform(rows))
    matrix = torch.tensor(fitted.transform(rows), requires_grad=True)
    np.testing.assert_array_equal(fitted.score_matrix(matrix), fitted.decision_function(rows))
    assert fitted.explain(tensor[:3], top=2) == fitted.explain(rows[:3], top=2)
    scores = torch.tensor(fitted.decision_function(rows), requires_grad=True)
    assert fitted.threshold_for(scores) == fitted.threshold_for(fitted.decision_function(rows))
    y = np.zeros(300, dtype=np.int64)
    y[:4] = 1
    trained = quick_model().fit(tensor, torch.tensor(y))
    expected = quick_model().fit(rows, y)
    np.testing.assert_array_equal(trained.decision_function(rows), expected.decision_function(rows))
    assert trained.training_["n_known_anomalies"] == 4
    named = {f"s{i}": torch.tensor(rows[:, i], requires_grad=True) for i in range(rows.shape[1])}
    by_name = quick_model().fit(named)
    assert by_name.feature_names_in_ == list(named)
    # The caller's tensor is left as it was: still requiring grad, with no gradient.
    assert tensor.requires_grad and tensor.grad is None


def test_a_bfloat16_tensor_is_read_as_its_values(fitted: DHAG, rng) -> None:
    # numpy has no bfloat16: it was refused as "Input cannot be read as a 2-D table".
    tensor = torch.tensor(normal(rng, 50), dtype=torch.bfloat16)
    np.testing.assert_array_equal(fitted.decision_function(tensor), fitted.decision_function(tensor.float()))


def test_a_sparse_tensor_is_still_refused_saying_how_to_make_it_dense(fitted: DHAG, rng) -> None:
    with pytest.raises(InputError, match=r"to_dense\(\)"):
        fitted.decision_function(torch.tensor(normal(rng, 5)).to_sparse())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_rows_on_a_gpu_are_read_as_their_values(fitted: DHAG, rng) -> None:
    rows = normal(rng, 50).astype(np.float32)
    tensor = torch.tensor(rows, device="cuda", requires_grad=True)
    np.testing.assert_array_equal(fitted.decision_function(tensor), fitted.decision_function(rows))
