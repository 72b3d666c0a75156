"""The user metadata a model is saved with: it loads as it was given, or the save refuses it, naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dhag import DHAG, ArtifactError, load_model


@pytest.mark.parametrize(
    ("metadata", "said"),
    [
        ({1: 2}, "metadata key 1 (int)"),
        ({"window": {"start": 1, 2: "b"}}, "metadata['window'] key 2 (int)"),
        ({"span": (1, 2)}, "metadata['span'] is a tuple"),
        ({"runs": [1, (2, 3)]}, "metadata['runs'][1] is a tuple"),
        ({"auc": float("nan")}, "metadata['auc'] is nan"),
        ({"owner": object()}, "metadata['owner'] is of type object"),
        ({"raw": b"x"}, "metadata['raw'] is of type bytes"),
        ({"scores": np.array([0.5, 0.7])}, "metadata['scores'] is a numpy array"),
        (["v1", "v2"], "metadata is of type list, not a dict"),
        ("v1", "metadata is of type str"),
    ],
)
def test_metadata_that_would_not_load_as_given_is_refused_naming_where(
    fitted: DHAG, tmp_path: Path, metadata: object, said: str
) -> None:
    path = tmp_path / "m.dhag"
    with pytest.raises(ArtifactError, match="cannot be saved") as refused:
        fitted.save(path, metadata=metadata)  # type: ignore[arg-type]
    assert said in str(refused.value)
    assert not path.exists()


def test_a_models_own_metadata_is_held_to_the_same_rule(quick_model, rng, tmp_path: Path) -> None:
    model = quick_model().fit(rng.normal(size=(200, 3)))
    model.metadata_ = {"assets": ("p1", "p2")}
    with pytest.raises(ArtifactError, match=r"metadata_\['assets'\] is a tuple.*a list"):
        model.save(tmp_path / "m.dhag")


def test_metadata_of_json_values_and_numpy_numbers_loads_as_given(fitted: DHAG, tmp_path: Path) -> None:
    given = {
        "version": 3,
        "source": "rows.csv",
        "window": {"start": 1.5, "end": None},
        "tags": ["a", True, [1, 2.5]],
        "rows": np.int64(1000),
        "auc": np.float32(0.75),
    }
    loaded = load_model(fitted.save(tmp_path / "m.dhag", metadata=given)).metadata_
    assert loaded == given
    assert type(loaded["rows"]) is int and type(loaded["auc"]) is float
