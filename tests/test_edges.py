"""Edges of the estimator's contract: seeds and settings as callers pass them, a training that
diverges, names and categories as data arrives, refits, and the command line's refusals."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plant_data import FEATURES, gross_outliers, normal

from dhag import DHAG, InputError, NotFittedError, ParameterError, TrainingError, load_model, read_manifest
from dhag.cli import main


def test_a_numpy_integer_seed_trains_the_model_its_int_does(quick_model, rng) -> None:
    rows = normal(rng, 300)
    a = quick_model(random_state=np.int64(7)).fit(rows)
    b = quick_model(random_state=7).fit(rows)
    np.testing.assert_array_equal(a.decision_function(rows[:20]), b.decision_function(rows[:20]))
    assert type(a.training_["seed"]) is int  # the artifact's manifest stays plain JSON


@pytest.mark.parametrize("seed", [-1, "7", 2**40, True, 1.5])
def test_a_bad_seed_is_refused_naming_it(quick_model, rng, seed: object) -> None:
    with pytest.raises(ParameterError, match="'random_state'.*None or an int in"):
        quick_model(random_state=seed).fit(normal(rng, 100))


@pytest.mark.parametrize("name", ["lr", "lambda_norm", "lambda_div", "discriminator_lr", "min_delta"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_settings_that_are_not_finite_are_refused(quick_model, rng, name: str, value: float) -> None:
    with pytest.raises(ParameterError, match=f"'{name}'.*finite"):
        quick_model(**{name: value}).fit(normal(rng, 100))


def test_a_diverged_training_is_refused_and_keeps_nothing(quick_model, rng) -> None:
    # A learning rate of 1e30 sends the weights to inf in the first updates: every score would be NaN.
    model = quick_model(lr=1e30)
    with pytest.raises(TrainingError, match="diverged.*not finite"):
        model.fit(normal(rng, 300))
    with pytest.raises(NotFittedError):
        model.decision_function(normal(rng, 5))


def test_scikit_learn_can_clone_and_set_the_settings() -> None:
    clone = pytest.importorskip("sklearn.base").clone  # scikit-learn is optional (the benchmarks')
    model = clone(DHAG(max_epochs=3, random_state=2, categorical=("kind",)))
    assert (model.max_epochs, model.random_state, model.categorical) == (3, 2, ("kind",))
    assert model.set_params(max_epochs=4) is model and model.max_epochs == 4
    with pytest.raises(ParameterError, match="no setting 'epochs'"):
        model.set_params(epochs=4, max_epochs=9)
    assert model.max_epochs == 4  # a refused call changes nothing


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("epochs", "max_epochs"), ("contamnation", "contamination"), ("latentdim", "latent_dim")],
)
def test_a_mistyped_setting_is_refused_naming_the_setting_it_is_near(typed: str, meant: str) -> None:
    # A search grid's typo (GridSearchCV, a Pipeline's dhag__epochs) was told only that there was no such
    # setting, leaving the user to find the right name.
    with pytest.raises(ParameterError) as refused:
        DHAG().set_params(**{typed: 4})
    assert str(refused.value) == (
        f"DHAG has no setting {typed!r} (did you mean {meant!r}?); get_params() lists its settings."
    )
    with pytest.raises(ParameterError) as refused:  # nothing near: where the settings are listed
        DHAG().set_params(n_estimators=4)
    assert str(refused.value) == "DHAG has no setting 'n_estimators'; get_params() lists its settings."


def test_feature_names_that_a_frame_contradicts_are_refused(quick_model, rng) -> None:
    frame = pd.DataFrame(normal(rng, 100), columns=FEATURES)
    with pytest.raises(InputError, match=r"feature_names .*'a'.* not the input's columns .*'flow_a'"):
        quick_model(feature_names=["a", "b", "c", "d"]).fit(frame)
    reordered = list(reversed(FEATURES))  # the same names: the frame's columns are matched by name
    assert quick_model(feature_names=reordered).fit(frame).feature_names_in_ == FEATURES


def test_an_array_is_read_in_the_feature_names_order_when_a_frame_fitted_them_in_another(
    quick_model, rng, tmp_path: Path
) -> None:
    rows = normal(rng, 200) * [1.0, 1.0, 1.0, 100.0]  # vibration far from the flows' scale
    order = ["vibration", "flow_total", "flow_a", "flow_b"]  # how the caller builds its arrays
    model = quick_model(feature_names=order).fit(pd.DataFrame(rows, columns=FEATURES))
    array = rows[:5, [FEATURES.index(name) for name in order]]
    expected = model.decision_function(pd.DataFrame(rows[:5], columns=FEATURES))
    assert model.decision_function(array).tolist() == expected.tolist()
    assert load_model(model.save(tmp_path / "m.dhag")).decision_function(array).tolist() == expected.tolist()


def test_duplicate_feature_names_are_refused(quick_model, rng) -> None:
    with pytest.raises(InputError, match="duplicates: 'a'"):
        quick_model(feature_names=["a", "a", "b", "c"]).fit(normal(rng, 100))


def test_a_refit_does_not_carry_the_earlier_models_metadata(quick_model, rng, tmp_path: Path) -> None:
    first = quick_model().fit(normal(rng, 200))
    loaded = load_model(first.save(tmp_path / "old.dhag", metadata={"source": "old.csv"}))
    assert loaded.metadata_ == {"source": "old.csv"}
    loaded.fit(normal(rng, 200) * 2)
    assert read_manifest(loaded.save(tmp_path / "new.dhag"))["metadata"] == {}


def test_a_small_validation_fraction_still_holds_out_time_blocks(quick_model, rng) -> None:
    # 50 stretches with every 100th held out would hold out none: the threshold would be calibrated on
    # rows the network trained on.
    model = quick_model(validation_split="blocks", validation_fraction=0.01).fit(normal(rng, 2000))
    assert model.training_["n_validation"] == 20
    assert model.training_["calibration"]["source"] == "validation"


def test_a_category_is_the_same_whatever_the_float_width(quick_model, rng) -> None:
    frame = pd.DataFrame({"a": rng.normal(size=300), "kind": rng.choice([0.1, 0.2, 3.0], 300)})
    model = quick_model(categorical=["kind"]).fit(frame)
    narrow = frame.astype({"kind": "float32"})
    np.testing.assert_array_equal(model.transform(narrow), model.transform(frame))
    assert set(model.transform(frame)[:, 1:].sum(axis=1)) == {1.0}  # every row in one known category


def test_an_unseen_category_is_scored_and_said_once_per_feature(quick_model, rng, caplog) -> None:
    frame = pd.DataFrame({"a": rng.normal(size=300), "kind": rng.choice(["pump", "fan"], 300)})
    model = quick_model(categorical=["kind"]).fit(frame)
    new = frame.iloc[:4].assign(kind=["pump", "valve", "valve", "fan"])
    caplog.clear()  # the fit's own log
    with caplog.at_level("WARNING", logger="dhag.preprocessing"):
        model.transform(frame)
        assert not caplog.records  # categories seen in training say nothing
        first = model.transform(new)
        model.transform(new)
    said = [r.getMessage() for r in caplog.records if r.name == "dhag.preprocessing"]
    assert len(said) == 1 and "'kind': 2 rows" in said[0] and "'valve'" in said[0]
    assert first[:, 1:].sum(axis=1).tolist() == [1.0, 0.0, 0.0, 1.0]


def test_numbers_in_an_object_array_score_as_numbers_and_text_is_refused(fitted: DHAG, rng) -> None:
    rows = normal(rng, 10)
    np.testing.assert_array_equal(
        fitted.decision_function(rows.astype(object)), fitted.decision_function(rows)
    )
    text = rows.astype(object)
    text[3, 1] = "high"
    with pytest.raises(InputError, match=f"{FEATURES[1]!r} must be numeric"):
        fitted.decision_function(text)


def test_no_rows_score_to_no_scores_whatever_the_column_dtype(fitted: DHAG) -> None:
    empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in FEATURES})  # a header-only CSV
    assert fitted.decision_function(empty).shape == (0,)


def test_a_structured_array_is_read_by_its_field_names(fitted: DHAG, rng) -> None:
    rows = normal(rng, 5)
    fields = np.zeros(5, dtype=[(name, "f8") for name in reversed(FEATURES)])  # names, not positions
    for i, name in enumerate(FEATURES):
        fields[name] = rows[:, i]
    np.testing.assert_array_equal(fitted.decision_function(fields), fitted.decision_function(rows))


def test_an_array_that_is_not_a_table_is_refused_saying_how_to_make_one(fitted: DHAG) -> None:
    with pytest.raises(InputError, match=r"2-D table.*shape \(4,\).*reshape\(1, -1\).*reshape\(-1, 1\)"):
        fitted.decision_function(np.zeros(4))
    with pytest.raises(InputError, match=r"2-D table.*shape \(2, 2, 4\)"):
        fitted.decision_function(np.zeros((2, 2, 4)))
    row = pd.DataFrame(np.zeros((3, 4)), columns=FEATURES).iloc[0]  # one row, as a Series
    with pytest.raises(InputError, match=r"2-D table.*a pandas Series of 4 values.*frame.iloc\[\[i\]\]"):
        fitted.decision_function(row)
    np.testing.assert_array_equal(
        fitted.decision_function(row.to_frame().T), fitted.decision_function(np.zeros((1, 4)))
    )


def test_rows_as_mappings_are_refused_saying_what_they_are_and_how_to_make_a_table(fitted: DHAG, rng) -> None:
    rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in normal(rng, 2)]
    for given, what in ((rows, "a list of 2 mappings"), (tuple(rows[:1]), "a tuple of 1 mapping")):
        with pytest.raises(
            InputError, match=rf"Got {what} \(rows of named values\).*pd\.DataFrame\(rows\)"
        ) as caught:
            fitted.decision_function(given)
        assert "reshape" not in str(caught.value)
    table = pd.DataFrame(rows)  # what the refusal says to give
    np.testing.assert_array_equal(
        fitted.decision_function(table), fitted.decision_function(table[FEATURES].to_numpy())
    )


def test_a_sparse_matrix_is_refused_saying_how_to_make_it_dense(fitted: DHAG, rng) -> None:
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(
        InputError, match=r"sparse matrix of shape \(3, 4\).*toarray\(\).*sparse_output=False"
    ):
        fitted.decision_function(sparse.csr_matrix(normal(rng, 3)))


@pytest.mark.parametrize("dtype", ["Int64", "Float64"])
def test_a_gap_in_a_nullable_pandas_column_is_named_as_missing(fitted: DHAG, rng, dtype: str) -> None:
    frame = pd.DataFrame(normal(rng, 4).round(), columns=FEATURES).astype(dtype)
    frame.loc[2, FEATURES[1]] = pd.NA
    with pytest.raises(InputError, match=f"{FEATURES[1]!r} has 1 missing value\\(s\\) \\(first at row 2\\)"):
        fitted.decision_function(frame)


@pytest.mark.parametrize("text", [pd.Categorical(["pump", "valve"] * 50), np.array(["pump", "valve"] * 50)])
def test_text_in_a_column_not_declared_categorical_is_refused_saying_how_to_declare_it(
    quick_model, rng, text
) -> None:
    frame = pd.DataFrame(normal(rng, 100), columns=FEATURES).assign(kind=text)
    # Text, or pandas' category dtype (typed categorical, whatever its categories): each says how.
    with pytest.raises(
        InputError,
        match="'kind' (must be numeric|is typed categorical).*categorical=\\['kind'\\].*--categorical kind",
    ):
        quick_model().fit(frame)
    assert quick_model(categorical=["kind"]).fit(frame).n_features_in_ == 5


def test_explain_refuses_a_count_below_one(fitted: DHAG, rng) -> None:
    for top in (0, -1, 1.5):
        with pytest.raises(ParameterError, match="'top'"):
            fitted.explain(gross_outliers(rng, 2), top=top)


# -- the command line -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("edges")
    rows = pd.DataFrame(normal(np.random.default_rng(0), 300), columns=FEATURES)
    rows.to_csv(root / "rows.csv", index=False)
    rows.iloc[:0].to_csv(root / "header.csv", index=False)
    np.savez(root / "rows.npz", X=rows.to_numpy(), feature_names=np.array(FEATURES))
    whole = (root / "rows.npz").read_bytes()
    (root / "cut.npz").write_bytes(whole[: len(whole) // 2])
    model = root / "m.dhag"
    assert (
        main(["train", "--data", str(root / "rows.csv"), "--out", str(model), "--max-epochs", "2", "--quiet"])
        == 0
    )
    return {"root": root, "model": model}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["score", "--model", "{model}", "--data", "{root}/rows.csv", "--out", "{root}/no/such/dir/o.csv"],
            "no/such/dir",
        ),
        (["score", "--model", "{model}", "--data", "{root}/cut.npz"], "Cannot read"),
        (["train", "--data", "{root}/cut.npz", "--out", "{root}/x.dhag"], "Cannot read"),
    ],
)
def test_files_the_system_refuses_exit_2_with_a_message(paths, argv: list[str], message: str, capsys) -> None:
    assert not zipfile.is_zipfile(paths["root"] / "cut.npz")
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dhag {argv[0]}: error:") and message in err


def test_a_header_only_file_scores_to_a_header_only_file(paths, capsys) -> None:
    capsys.readouterr()
    assert main(["score", "--model", str(paths["model"]), "--data", str(paths["root"] / "header.csv")]) == 0
    assert capsys.readouterr().out.strip() == "score,anomaly"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "speed", "--threads", "0"], "--threads must be at least 1"),
        (["bench", "table2", "--datasets", "thyroid,nosuch"], "unknown --datasets ['nosuch']"),
        (["bench", "table2", "--detectors", "dhag,lof"], "unknown --detectors ['lof']"),
    ],
)
def test_bad_options_stop_before_any_work_naming_the_option(
    paths, argv: list[str], message: str, capsys
) -> None:
    assert main([a.format(**paths) for a in argv]) == 2  # a usage error, as every dhag command's
    assert f"dhag bench: error: {message}" in capsys.readouterr().err


def test_threshold_for_no_scores_is_refused_saying_so() -> None:
    # np.quantile of nothing ended threshold_for in an IndexError from numpy's insides.
    with pytest.raises(
        InputError, match="threshold_for needs the scores of at least one normal row. Got none"
    ):
        DHAG().threshold_for(np.array([]))
    with pytest.raises(InputError, match="Got none"):
        DHAG(min_threshold=0.5).threshold_for([])


@pytest.mark.parametrize(
    ("odd", "said"),
    [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite"), (3.5, "outside [0, 1]")],
)
def test_threshold_for_refuses_scores_no_model_gives_naming_the_first(odd: float, said: str) -> None:
    # One NaN among the scores made the threshold NaN, refused as "DHAG training leaves no score above
    # its threshold (nan): normal rows score nan"; a logit (logit_matrix) among them, a threshold past 1.
    scores = np.linspace(0.2, 0.4, 200)
    scores[17] = odd
    with pytest.raises(InputError) as refused:
        DHAG().threshold_for(scores)
    assert said in str(refused.value) and "position 17" in str(refused.value)


def test_score_matrix_takes_any_memory_layout_of_a_preprocessed_matrix(fitted, train_rows) -> None:
    matrix = fitted.transform(train_rows[:50])
    scores, logits = fitted.score_matrix(matrix), fitted.logit_matrix(matrix)
    read_only = matrix.copy()
    read_only.flags.writeable = False  # a read-only memory map, or a frame's arrow-backed to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns (once per process) of a read-only array it shares
        assert fitted.score_matrix(read_only).tolist() == scores.tolist()
    # Rows in another order or layout may be summed in another order: equal to float32's rounding.
    assert fitted.score_matrix(matrix[::-1]) == pytest.approx(scores[::-1], abs=1e-6)  # negative strides
    assert fitted.logit_matrix(matrix[::-1]) == pytest.approx(logits[::-1], abs=1e-4)
    assert fitted.score_matrix(np.asfortranarray(matrix)) == pytest.approx(scores, abs=1e-6)
    assert fitted.score_matrix(np.repeat(matrix, 2, axis=0)[::2]) == pytest.approx(scores, abs=1e-6)
