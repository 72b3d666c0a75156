"""Tables a user may hand the library that look like data but would train a useless model or be read
wrongly: refused with a message that names the column and says what to do."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from dhag import DHAG, InputError, ParameterError, Preprocessor


def test_a_categorical_with_a_category_per_row_is_refused_as_an_identifier() -> None:
    frame = pd.DataFrame({"a": np.arange(500.0), "serial": [f"s{i}" for i in range(500)]})
    with pytest.raises(InputError) as info:
        Preprocessor(categorical=["serial"]).fit(frame)
    message = str(info.value)
    assert "'serial'" in message and "500 categories in 500 rows" in message and "--id-columns" in message


def test_many_real_categories_in_a_small_table_are_kept_when_that_is_chosen() -> None:
    # 150 part numbers over 200 rows: the refusal's rule takes them for identifiers; the user says not.
    frame = pd.DataFrame({"a": np.arange(200.0), "part": [f"p{i % 150}" for i in range(200)]})
    with pytest.raises(InputError) as info:
        Preprocessor(categorical=["part"]).fit(frame)
    message = str(info.value)
    assert "allow_many_categories=True" in message and "--allow-many-categories" in message
    pre = Preprocessor(categorical=["part"], allow_many_categories=True).fit(frame)
    assert len(pre.categories_["part"]) == 150 and len(pre.output_names_) == 151


def test_the_estimator_passes_the_choice_of_many_categories_to_its_preprocessing() -> None:
    frame = pd.DataFrame({"a": np.arange(200.0), "part": [f"p{i % 150}" for i in range(200)]})
    quick = {"max_epochs": 1, "batch_size": 64, "random_state": 0, "categorical": ["part"]}
    with pytest.raises(InputError, match="'part' has 150 categories in 200 rows"):
        DHAG(**quick).fit(frame)
    model = DHAG(**quick, allow_many_categories=True).fit(frame)
    assert len(model.preprocessor_.categories_["part"]) == 150
    with pytest.raises(ParameterError, match="'allow_many_categories' parameter of DHAG must be True or"):
        DHAG(**quick, allow_many_categories="yes").fit(frame)


def test_many_categories_each_seen_often_are_kept() -> None:
    frame = pd.DataFrame({"a": np.arange(1000.0), "line": [f"l{i % 300}" for i in range(1000)]})
    pre = Preprocessor(categorical=["line"]).fit(frame)
    assert len(pre.categories_["line"]) == 300


def test_few_rows_with_distinct_categories_are_kept() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "mode": ["run", "idle", "clean"]})
    assert Preprocessor(categorical=["mode"]).fit(frame).output_names_[1:] == [
        "mode=clean",
        "mode=idle",
        "mode=run",
    ]


@pytest.mark.parametrize(
    "written",
    # A space, a no-break space or an apostrophe (a French or a Swiss locale), or dots beside a decimal
    # comma (a German one), were refused as text with no word of the separator, as a column to declare.
    ["1,257", "-12,345,678.5", "0,25", "1 257", "12\u00a0345,5", "1'257.5", "1.234,5", "1.234.567"],
)
def test_a_number_written_with_a_separator_is_refused_as_such_not_as_a_category(written: str) -> None:
    frame = pd.DataFrame({"flow": ["7", written, "9"]}, dtype=object)
    with pytest.raises(InputError) as info:
        Preprocessor().fit(frame)
    message = str(info.value)
    assert (
        f"Got {written!r} (str) at row 1" in message  # not '7', a number written as text like the rest
        and f"separator or a decimal comma ({written!r} at row 1)" in message
    )
    assert "categorical" not in message, "a number is no category to declare"


@pytest.mark.parametrize(
    "times",
    [
        pd.date_range("2024-01-01", periods=3, freq="h"),
        pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"),
        # A month or a day as pandas' Period (to_period("M")) was refused with no word of the time.
        pd.period_range("2024-01", periods=3, freq="M"),
    ],
)
def test_a_column_of_times_is_refused_saying_to_leave_it_out_or_derive_numbers(times) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "at": times})
    with pytest.raises(InputError, match=r"'at'.*time.*--id-columns at"):
        Preprocessor().fit(frame)


@pytest.mark.parametrize(
    "written",
    [
        ["2026-01-31T10:00:00", "2026-01-31T11:00:00"],
        ["2026-01-31 10:00", "2026-01-31 11:00:05.250+01:00"],
        ["31/01/2026 10:00", "31/01/2026 11:00"],
        ["01/31/2026 10:00 AM", "01/31/2026 11:00 PM"],
        ["2026-01-31", "2026-02-01"],
        ["10:00:00", "11:00:00"],
    ],
)
def test_a_column_of_times_written_as_text_is_refused_as_times(written: list[str]) -> None:
    # A CSV's time column reads as text: fit said to declare it a column of categories, each time one.
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "at": [*written, np.nan]}, dtype=object)
    with pytest.raises(InputError) as refused:
        Preprocessor().fit(frame)
    said = str(refused.value)
    assert said.endswith(
        "A time is no feature: leave it out (dhag train --id-columns at), or derive numbers from it (the "
        "hour of day, seconds since an event)."
    )
    assert "categorical" not in said


@pytest.mark.parametrize(
    "durations",
    [
        pd.to_timedelta([1, 2, 3], unit="s"),
        np.array([1, 2, 3], dtype="timedelta64[ms]"),
        np.array([datetime.timedelta(seconds=s) for s in (1, 2, 3)], dtype=object),
    ],
)
def test_a_column_of_durations_is_refused_saying_to_write_it_in_seconds(durations) -> None:
    # A run time or a time since service is a number, well worth training on: no time to leave out.
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "runtime": durations})
    fitted = Preprocessor().fit(pd.DataFrame({"a": [1.0, 2.0], "runtime": [1.0, 3.0]}))
    for refusal in (lambda: Preprocessor().fit(frame), lambda: fitted.transform(frame)):
        with pytest.raises(InputError) as refused:
            refusal()
        said = str(refused.value)
        assert "'runtime'" in said and "duration" in said and "frame['runtime'].dt.total_seconds()" in said
        assert "--id-columns" not in said and "A time is no feature" not in said


def test_an_empty_column_is_named_as_empty() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "spare": [np.nan] * 3})
    with pytest.raises(
        InputError, match=r"Feature 'spare' is empty: all its 3 values are NaN.*--id-columns spare"
    ):
        Preprocessor().fit(frame)


def test_a_gap_says_that_an_empty_cell_reads_as_nan() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0]})
    with pytest.raises(
        InputError, match=r"'a' has 1 NaN or infinite value\(s\) \(first at row 1\).*empty cell"
    ):
        Preprocessor().fit(frame)


def test_a_text_array_of_separated_numbers_names_the_first() -> None:
    with pytest.raises(InputError, match=r"dtype <U5.*\('1,257' at row 1\)"):
        Preprocessor().fit(np.array([["7"], ["1,257"]]))


def test_a_column_typed_categorical_but_not_declared_is_refused_not_scaled_as_numbers() -> None:
    # A Parquet file keeps pandas' category dtype: codes 0, 1, 2 in it are categories, not magnitudes.
    frame = pd.DataFrame({"a": np.arange(6.0), "line": pd.Categorical([0, 1, 2, 0, 1, 2])})
    with pytest.raises(InputError, match=r"'line' is typed categorical.*--categorical line"):
        Preprocessor().fit(frame)
    pre = Preprocessor(categorical=["line"]).fit(frame)
    assert pre.output_names_ == ["a", "line=0", "line=1", "line=2"]
