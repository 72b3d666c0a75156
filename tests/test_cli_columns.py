"""The ``dhag`` command line and the columns of its files: categories written as numbers, and id columns
carried past the model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from artifact_support import save_with_metadata
from plant_data import FEATURES, normal

from dhag import DHAG, load_model
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
        (["train", "--id-columns", "site"], "--id-columns names 'site', not among the columns of"),
        (["train", "--id-columns", "asset", "--categorical", "asset"], "'asset' is an id column"),
        (["train", "--id-columns", "label", "--label-column", "label"], "'label' is the label column"),
        (["score", "--id-columns", "site"], "--id-columns names 'site', not among the columns of"),
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


def test_a_model_knows_its_id_and_label_columns_again_when_scoring(
    files, with_ids, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "ids.dhag"
    train = ["train", "--data", str(with_ids["train"]), "--out", str(model), "--label-column", "label"]
    assert main([*train, "--id-columns", "asset,reading", "--max-epochs", "2", "--quiet", "--seed", "1"]) == 0
    labelled = tmp_path / "labelled.csv"
    test = pd.read_csv(with_ids["test"], dtype={"reading": str}).assign(label=[0] * 40 + [1] * 10)
    test.to_csv(labelled, index=False)
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--data", str(labelled)]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"reading": str})
    assert list(scored.columns) == ["asset", "reading", "label", "score", "anomaly"]
    assert scored["reading"].tolist() == test["reading"].tolist()
    assert scored["label"].tolist() == test["label"].tolist()
    np.testing.assert_allclose(scored["score"], load_model(model).decision_function(test[FEATURES]))
    # A file without them is scored as it is; ids named to score replace the model's.
    assert main(["score", "--model", str(model), "--data", str(files["test"])]) == 0
    assert pd.read_csv(io.StringIO(capsys.readouterr().out)).columns.tolist() == ["score", "anomaly"]
    assert main(["score", "--model", str(model), "--data", str(labelled), "--id-columns", "asset"]) == 2
    assert "unexpected 'reading'" in capsys.readouterr().err


def test_a_label_column_named_as_an_output_column_is_left_out_of_the_scores(
    files, tmp_path: Path, capsys, caplog
) -> None:
    data = pd.read_csv(files["train"]).rename(columns={"label": "anomaly"})
    data.to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.dhag"
    argv = ["train", "--data", str(tmp_path / "train.csv"), "--out", str(model), "--label-column", "anomaly"]
    assert main([*argv, "--max-epochs", "2", "--quiet", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--data", str(tmp_path / "train.csv")]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(scored.columns) == ["score", "anomaly"] and len(scored) == len(data)
    flagged = (scored["score"] > load_model(model).threshold_).astype(int)
    assert scored["anomaly"].tolist() == flagged.tolist()  # the model's flag, not the file's label
    assert "left out of the scores: 'anomaly'" in caplog.text


def test_train_keeps_many_real_categories_in_a_small_table_when_told_to(tmp_path: Path, capsys) -> None:
    gen = np.random.default_rng(4)
    data = pd.DataFrame(normal(gen, 200), columns=FEATURES).assign(part=[f"p{i % 150}" for i in range(200)])
    data.to_csv(tmp_path / "parts.csv", index=False)
    model = tmp_path / "parts.dhag"
    argv = ["train", "--data", str(tmp_path / "parts.csv"), "--out", str(model), "--categorical", "part"]
    argv += ["--max-epochs", "1", "--quiet", "--seed", "1"]
    assert main(argv) == 2
    assert "--allow-many-categories" in capsys.readouterr().err and not model.exists()
    assert main([*argv, "--allow-many-categories"]) == 0
    loaded = load_model(model)
    assert loaded.allow_many_categories is True and len(loaded.preprocessor_.categories_["part"]) == 150


@pytest.mark.parametrize("metadata", [["line 4"], "pump 7", 3])
def test_a_model_saved_with_metadata_that_is_no_object_scores_as_one_without_ids(
    files, model_path: Path, metadata, tmp_path: Path, capsys
) -> None:
    # Such metadata, which DHAG.save once wrote as given, ended dhag score in AttributeError's traceback.
    saved = save_with_metadata(load_model(model_path), tmp_path / "listed.dhag", metadata)
    capsys.readouterr()
    assert main(["score", "--model", str(saved), "--data", str(files["test"])]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert scored.columns.tolist() == ["score", "anomaly"] and len(scored) == 50


def test_categories_coded_as_floats_are_the_same_categories_in_a_csv_pandas_wrote(
    tmp_path: Path, capsys, caplog
) -> None:
    # A frame's codes 1.0 and 2.0 are the categories '1' and '2'; the CSV pandas writes of the frame holds
    # them as the text '1.0' and '2.0', which was a category never seen: every row scored as in none.
    gen = np.random.default_rng(4)
    frame = pd.DataFrame(normal(gen, 300), columns=FEATURES).assign(code=gen.choice([1.0, 2.0], 300))
    fitted = DHAG(max_epochs=2, batch_size=64, categorical=["code"], random_state=0).fit(frame)
    fitted.save(tmp_path / "codes.dhag")
    frame.head(20).to_csv(tmp_path / "codes.csv", index=False)
    capsys.readouterr()
    model, data = tmp_path / "codes.dhag", tmp_path / "codes.csv"
    assert main(["score", "--model", str(model), "--data", str(data)]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out))["score"].to_numpy()
    np.testing.assert_allclose(scored, fitted.decision_function(frame.head(20)), rtol=1e-6)
    assert "not seen in training" not in caplog.text
    # And a model trained on that CSV by dhag train scores the frame's floats as its categories.
    frame.to_csv(tmp_path / "train.csv", index=False)
    argv = ["train", "--data", str(tmp_path / "train.csv"), "--out", str(tmp_path / "csv.dhag")]
    assert main([*argv, "--categorical", "code", "--max-epochs", "2", "--quiet"]) == 0
    from_csv = load_model(tmp_path / "csv.dhag")
    expected = from_csv.preprocessor_.transform(pd.read_csv(tmp_path / "train.csv", dtype={"code": str}))
    np.testing.assert_array_equal(from_csv.preprocessor_.transform(frame), expected)
    assert "not seen in training" not in caplog.text


@pytest.mark.parametrize(
    ("option", "given", "near"),
    [("--categorical", "Mode", "'Mode' is 'mode'"), ("--passthrough", "flow", "")],
)
def test_a_declared_column_the_file_lacks_is_refused_naming_the_option(
    tmp_path: Path, capsys, option: str, given: str, near: str
) -> None:
    # It was refused as "The 'categorical' features 'Mode' are not among the input features", naming a
    # setting of the library, not the option given, and not the column 'mode' beside it.
    data = tmp_path / "rows.csv"
    data.write_text(
        "asset,a,mode\n" + "".join(f"p{i % 3},{i % 7},{'run' if i % 2 else 'idle'}\n" for i in range(200))
    )
    out = tmp_path / "m.dhag"
    argv = ["train", "--data", str(data), "--out", str(out), "--id-columns", "asset", "--max-epochs", "1"]
    declared = [option, given] if option == "--categorical" else ["--categorical", "mode", option, given]
    assert main([*argv, *declared, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"dhag train: error: {option} names {given!r}, not among the columns of {str(data)!r} "
    )
    assert "'categorical' setting" not in err and not out.exists()
    assert (
        (f"{near} in another case; names must match exactly." in err) if near else err.endswith("'mode').\n")
    )
