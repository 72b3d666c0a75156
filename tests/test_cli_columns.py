"""The ``dhag`` command line and the columns of its files: categories written as numbers, and id columns
carried past the model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plant_data import FEATURES, normal

from dhag import load_model
from dhag.cli import main


def test_a_category_that_looks_like_a_number_is_the_same_category_in_every_file(files, capsys) -> None:
    # Left to guess, pandas read "01" as "01" in the training file (which also holds "x7") and as the
    # number 1 in a file of "01" and "02" only: every row of that file was an unseen category.
    gen = np.random.default_rng(8)
    train = pd.DataFrame(normal(gen, 300), columns=FEATURES).assign(line=gen.choice(["01", "02", "x7"], 300))
    train.to_csv(files["root"] / "lines.csv", index=False)
    model = files["root"] / "lines.dhag"
    argv = ["train", "--data", str(files["root"] / "lines.csv"), "--out", str(model), "--categorical", "line"]
    assert main([*argv, "--max-epochs", "2", "--quiet", "--seed", "1"]) == 0
    rows = train[train["line"] != "x7"].head(20)
    rows.to_csv(files["root"] / "numeric-looking.csv", index=False)
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--data", str(files["root"] / "numeric-looking.csv")]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out))["score"].to_numpy()
    np.testing.assert_allclose(scored, load_model(model).decision_function(rows), rtol=1e-6)


@pytest.fixture(scope="module")
def with_ids(files) -> dict[str, Path]:
    """The training and test files with two identifying columns: an asset name and a reading number
    written with leading zeros (text, however numeric it looks)."""
    root = files["root"]
    paths = {}
    for name in ("train", "test"):
        frame = pd.read_csv(files[name])
        frame.insert(0, "asset", [f"pump-{i % 3}" for i in range(len(frame))])
        frame.insert(2, "reading", [f"{i:05d}" for i in range(len(frame))])
        paths[name] = root / f"{name}_ids.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def test_id_columns_are_left_out_of_training_and_carried_into_the_scores(
    files, with_ids, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "ids.dhag"
    train = ["train", "--data", str(with_ids["train"]), "--out", str(model), "--label-column", "label"]
    assert main([*train, "--id-columns", "asset,reading", "--max-epochs", "2", "--quiet", "--seed", "1"]) == 0
    assert load_model(model).feature_names_in_ == FEATURES
    capsys.readouterr()
    score = ["score", "--model", str(model), "--data", str(with_ids["test"]), "--explain", "1"]
    assert main([*score, "--id-columns", "asset,reading"]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"reading": str})
    assert list(scored.columns) == ["asset", "reading", "score", "anomaly", "top_features"]
    test = pd.read_csv(with_ids["test"], dtype={"reading": str})
    assert scored["reading"].tolist() == test["reading"].tolist()  # the input's rows, in its order
    assert scored["asset"].tolist() == test["asset"].tolist()
    expected = load_model(model).decision_function(test[FEATURES])
    np.testing.assert_allclose(scored["score"], expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--id-columns", "site"], "Id column 'site' is not in"),
        (["train", "--id-columns", "asset", "--categorical", "asset"], "'asset' is an id column"),
        (["train", "--id-columns", "label", "--label-column", "label"], "'label' is the label column"),
        (["score", "--id-columns", "site"], "Id column 'site' is not in"),
        (["score", "--id-columns", "asset,flow_a"], "'flow_a' is a feature of the model"),
    ],
)
def test_id_columns_that_are_absent_or_used_otherwise_are_refused(
    files, with_ids, model_path: Path, args: list[str], message: str, tmp_path: Path, capsys
) -> None:
    if args[0] == "train":
        argv = ["train", "--data", str(with_ids["train"]), "--out", str(tmp_path / "x.dhag"), *args[1:]]
    else:
        argv = ["score", "--model", str(model_path), "--data", str(with_ids["test"]), *args[1:]]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.dhag").exists()


def test_score_refusing_a_column_the_model_lacks_points_to_id_columns(
    with_ids, model_path: Path, capsys
) -> None:
    assert main(["score", "--model", str(model_path), "--data", str(with_ids["test"])]) == 2
    err = capsys.readouterr().err
    assert "unexpected 'asset', 'reading'" in err and "--id-columns" in err
