"""A feature held in a frame's index (``set_index``) is named as such where scoring refuses the frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import InputError


def test_a_feature_in_the_frames_index_is_said_to_be_there(quick_model, rng) -> None:
    # The refusal said only "missing 'flow'", with the flow in plain sight as the frame's index.
    frame = pd.DataFrame(
        {"flow": rng.normal(size=300), "temp": rng.normal(size=300), "load": rng.normal(size=300)}
    )
    model = quick_model().fit(frame)
    with pytest.raises(
        InputError,
        match=r"missing 'flow'; 'flow' is in the frame's index: frame\.reset_index\(\) makes it a column",
    ):
        model.decision_function(frame.set_index("flow"))
    with pytest.raises(InputError, match=r"'flow', 'temp' are in the frame's index: .* makes them columns"):
        model.decision_function(frame.set_index(["flow", "temp"]))
    with pytest.raises(InputError) as refused:
        model.decision_function(frame.drop(columns="flow").rename_axis("when"))
    assert "index" not in str(refused.value)
    np.testing.assert_array_equal(
        model.decision_function(frame.set_index("flow").reset_index()), model.decision_function(frame)
    )
