"""Files a user may hand ``dhag train`` / ``dhag score`` that pandas or numpy would read wrongly or
refuse with advice that misleads: each is refused naming the file and what is wrong with it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dhag import InputError
from dhag.io import read_table


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_file_with_another_separator_is_refused_naming_it(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(f"a{sep}b{sep}mode\n1.5{sep}2{sep}run\n3{sep}4{sep}idle\n")
    with pytest.raises(InputError, match=re.escape(f"separated by {sep!r}")) as info:
        read_table(path)
    assert "rows.csv" in str(info.value) and "comma" in str(info.value)


def test_a_one_column_file_whose_name_holds_a_semicolon_alone_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("flow;total\n1.5\n2.5\n")
    frame, _ = read_table(path)
    assert list(frame.columns) == ["flow;total"] and frame["flow;total"].tolist() == [1.5, 2.5]


@pytest.mark.parametrize(("encoding", "shown"), [("latin-1", "0xe9"), ("utf-16", "0xff")])
def test_a_file_not_in_utf8_is_refused_saying_so(tmp_path: Path, encoding: str, shown: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("a,mode\n1,café\n2,run\n".encode(encoding))
    with pytest.raises(InputError, match=f"is not UTF-8 text .*{shown}.*save it as UTF-8"):
        read_table(path)


def test_a_file_named_npz_that_is_no_archive_is_refused_as_such_not_as_pickled_data(tmp_path: Path) -> None:
    path = tmp_path / "rows.npz"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    assert "is not an NPZ archive" in str(info.value) and "allow_pickle" not in str(info.value)


def test_npz_feature_names_saved_as_objects_say_how_to_save_them(tmp_path: Path) -> None:
    path = tmp_path / "rows.npz"
    np.savez(path, X=np.ones((3, 2)), feature_names=np.array(["a", "b"], dtype=object))
    with pytest.raises(InputError) as info:
        read_table(path)
    message = str(info.value)
    assert "'feature_names'" in message and "dtype=str" in message and "allow_pickle" not in message
