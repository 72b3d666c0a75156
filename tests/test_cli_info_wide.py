"""``dhag info`` on a model of many features or of large metadata (the pipeline's plant model keeps a
reference per asset there): each line says what it leaves out, and none runs to kilobytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dhag import DHAG
from dhag.cli import main


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory):
    """A model of 25 features saved with metadata as large as a 300-asset plant model's."""
    rng = np.random.default_rng(0)
    model = DHAG(max_epochs=1, progress=False, feature_names=[f"f{i:02d}" for i in range(25)])
    model.fit(rng.normal(size=(200, 25)))
    references = {f"pump-{i:03d}": [1.0, 0.98, 1.02, 0.5, 0.25] for i in range(300)}
    metadata = {"source": "rows.csv", "plant_features": {"references": references}, "id_columns": ["t"]}
    return model.save(tmp_path_factory.mktemp("info") / "wide.dhag", metadata=metadata), metadata


def test_info_says_how_many_features_and_ranges_it_leaves_out(wide, capsys) -> None:
    assert main(["info", str(wide[0])]) == 0
    lines = capsys.readouterr().out.splitlines()
    features = next(line for line in lines if line.startswith("features (25): "))
    assert features.endswith("f19 and 5 more (dhag info --json lists them)")
    ranges = next(line for line in lines if line.startswith("training ranges: "))
    assert ranges.endswith(" and 5 more")


def test_info_shows_large_metadata_by_its_size_and_the_rest_whole(wide, capsys) -> None:
    path, metadata = wide
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(line for line in lines if line.startswith("metadata: "))
    assert len(line) < 400
    shown = json.loads(line[len("metadata: ") :])
    assert shown["source"] == "rows.csv" and shown["id_columns"] == ["t"]
    assert shown["plant_features"].startswith("<an object of 1 key, ") and "--json" in shown["plant_features"]
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"] == metadata


def test_info_names_the_training_ranges_in_the_features_order(tmp_path, capsys) -> None:
    # They were in the manifest's order, sorted by name: s0, s1, s10, s100, ... beside the features
    # s0, s1, s2, ..., so the first 20 ranges shown were of other features than the first 20 named.
    names = [f"s{i}" for i in range(30)][::-1]  # s29 first: neither sorted nor as the file sorts them
    model = DHAG(max_epochs=1, batch_size=64, random_state=0, feature_names=names)
    path = model.fit(np.random.default_rng(0).normal(size=(200, 30))).save(tmp_path / "m.dhag")
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    ranges = next(line for line in lines if line.startswith("training ranges: "))
    named = [entry.split(" [")[0] for entry in ranges.removeprefix("training ranges: ").split("], ")]
    assert named[:20] == names[:20] and ranges.endswith(" and 10 more")
