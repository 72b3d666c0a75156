"""Refusals of input that must reach every way in (DHAG.fit, dhag train on each file type) and say
what is really wrong: the column's type, the byte and line that are not UTF-8, text that is text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dhag import DHAG, InputError, Preprocessor
from dhag.cli import main
from dhag.io import read_table


def _typed(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(float(n)), "line": pd.Categorical([0, 1, 2] * (n // 3))})


def test_fit_refuses_a_column_typed_categorical_but_not_declared() -> None:
    with pytest.raises(InputError, match=r"'line' is typed categorical.*--categorical line"):
        DHAG(max_epochs=1, progress=False).fit(_typed())


def test_fit_with_known_anomalies_refuses_it_too() -> None:
    with pytest.raises(InputError, match=r"'line' is typed categorical"):
        DHAG(max_epochs=1, progress=False).fit(_typed(), [1] + [0] * 59)


def test_train_on_parquet_refuses_an_undeclared_category_column_and_takes_a_declared_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A Parquet file keeps pandas' category dtype for categories of text (numbers read back as numbers).
    data = tmp_path / "rows.parquet"
    frame = _typed()
    frame["line"] = frame["line"].cat.rename_categories(["l0", "l1", "l2"])
    frame.to_parquet(data)
    assert pd.read_parquet(data)["line"].dtype.name == "category"
    out = tmp_path / "m.dhag"
    base = ["train", "--data", str(data), "--out", str(out), "--quiet", "--max-epochs", "1"]
    assert main(base) == 2
    assert "'line' is typed categorical" in capsys.readouterr().err and not out.exists()
    assert main([*base, "--categorical", "line"]) == 0
    assert out.exists()


def test_a_byte_not_utf8_deep_in_a_file_is_named_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    head = b"a,mode\n" + b"".join(b"%d,run\n" % i for i in range(100_000))
    path.write_bytes(head + "7,caf\u00e9\n".encode("latin-1"))
    offset = len(head) + len(b"7,caf")
    with pytest.raises(InputError, match=rf"byte 0xe9 at position {offset}, line 100002\)"):
        read_table(path, text_columns=["mode"])


def test_a_byte_not_utf8_in_a_gzipped_file_is_named_in_its_text(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "rows.csv.gz"
    path.write_bytes(gzip.compress("a,mode\n1,run\n2,caf\u00e9\n".encode("latin-1")))
    with pytest.raises(InputError, match=r"byte 0xe9 at position 18, line 3\)"):
        read_table(path, text_columns=["mode"])


def test_a_character_cut_by_a_read_and_then_broken_is_named_at_its_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    head = b"a,mode\n" + b"1,run\n" * 1000
    head += b"x" * ((1 << 20) - len(head) - 2) + b"\n"  # filler: the character's first byte ends a read
    assert len(head) == (1 << 20) - 1
    path.write_bytes(head + b"\xc3(\n")  # a two-byte character's first byte, then no second byte
    with pytest.raises(InputError, match=rf"byte 0xc3 at position {len(head)}, line"):
        read_table(path, text_columns=["mode"])


def test_text_holding_one_value_with_a_comma_is_told_to_be_declared_not_written_as_numbers() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "zone": ["north", "3,4", "south"]})
    with pytest.raises(InputError) as info:
        Preprocessor().fit(frame)
    message = str(info.value)
    assert "categorical=['zone']" in message and "thousands separator" not in message


def test_numbers_some_written_with_a_decimal_comma_are_still_told_so() -> None:
    frame = pd.DataFrame({"flow": ["7", "0,25", "9.5"]}, dtype=object)
    with pytest.raises(InputError, match=r"decimal comma \('0,25' at row 1\)") as info:
        Preprocessor().fit(frame)
    assert "categorical" not in str(info.value)


@pytest.mark.parametrize(
    "empty",
    [pd.Series([None] * 3, dtype=object), pd.array([None] * 3, dtype="Float64")],
    ids=["nulls", "nullable"],
)
def test_a_column_of_nulls_is_named_as_empty_as_a_column_of_nan_is(empty) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "spare": empty})
    with pytest.raises(InputError, match=r"Feature 'spare' is empty: .*--id-columns spare"):
        Preprocessor().fit(frame)


def test_a_parquet_column_with_no_value_is_named_as_empty(tmp_path: Path) -> None:
    data = tmp_path / "rows.parquet"
    pd.DataFrame({"a": np.arange(30.0), "spare": [None] * 30}).to_parquet(data)
    frame, _ = read_table(data)
    with pytest.raises(InputError, match=r"Feature 'spare' is empty"):
        DHAG(max_epochs=1, progress=False).fit(frame)


@pytest.mark.parametrize("values", [pa.string(), pa.int64()])
def test_an_arrow_dictionary_column_is_an_undeclared_category_and_taken_when_declared(values) -> None:
    # pd.read_parquet(..., dtype_backend="pyarrow") reads a categorical column as a dictionary type:
    # codes 0, 1, 2 must not be scaled as magnitudes, nor labels be told as text to declare.
    cats = ["l0", "l1", "l2"] if values == pa.string() else [0, 1, 2]
    line = pd.array(cats * 20, dtype=pd.ArrowDtype(pa.dictionary(pa.int32(), values)))
    frame = pd.DataFrame({"a": np.arange(60.0), "line": line})
    with pytest.raises(InputError, match=r"'line' is typed categorical \(a pyarrow dictionary type\).*"):
        DHAG(max_epochs=1, progress=False).fit(frame)
    with pytest.raises(InputError, match=r"'line' is typed categorical"):
        Preprocessor().fit(frame)
    model = DHAG(max_epochs=1, progress=False, categorical=["line"]).fit(frame)
    assert model.decision_function(frame).shape == (60,)
    assert "line=" + str(cats[0]) in model.preprocessor_.output_names_


@pytest.mark.parametrize("width", [1, 3])
def test_feature_names_of_another_length_than_the_arrays_columns_are_refused_naming_the_setting(
    width: int,
) -> None:
    rows = np.arange(60.0 * width).reshape(60, width)
    with pytest.raises(InputError) as refused:
        DHAG(max_epochs=1, feature_names=["a", "b"]).fit(rows)
    said = str(refused.value)
    assert f"feature_names names 2 features ('a', 'b'). Got {width} column" in said
    assert "one name per column" in said
    with pytest.raises(InputError, match=r"feature_names names 2 features"):
        Preprocessor(feature_names=["a", "b"]).fit(rows)
