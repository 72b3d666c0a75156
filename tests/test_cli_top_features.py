"""``dhag score --explain``'s ``top_features`` cell reads back as written: each feature's name exactly
as the model knows it, whatever it holds (``;`` and ``:`` that separate the entries, ``%`` that
escapes them), and its contribution."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from dhag import DHAG, read_top_features
from dhag.cli import main
from dhag.topfeatures import top_features_cell

NAMES = ["a;b:0.5", "flow:rate", "load_%3B", "plain", "débit m3/h"]


def _readme_reader(cell: str) -> list[tuple[str, float]]:
    """The reader docs/library.md gives for the cell, with the standard library alone."""
    return [(unquote(name), float(drop)) for name, drop in (e.split(":") for e in cell.split(";"))]


def test_every_name_reads_back_exactly_from_the_scores_csv(tmp_path: Path) -> None:
    # Before, names were written raw between ';' and ':': 'a;b:0.5:0.0006' read as two entries.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, len(NAMES))), columns=NAMES)
    path = DHAG(max_epochs=2, random_state=0).fit(frame).save(tmp_path / "m.dhag")
    rows = frame.iloc[:10].copy()
    rows.iloc[:3] = 9.0
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = io.StringIO()
    with redirect_stdout(out):
        argv = ["score", "--model", str(path), "--data", str(tmp_path / "rows.csv"), "--explain", "5"]
        assert main(argv) == 0
    scores = pd.read_csv(io.StringIO(out.getvalue()), keep_default_na=False)
    cells = scores.loc[scores["anomaly"] == 1, "top_features"]
    assert len(cells) >= 3
    named = set()
    for cell in cells:
        entries = _readme_reader(cell)
        assert {name for name, _ in entries} <= set(NAMES), cell  # those that raise the score
        assert entries == read_top_features(cell)
        named |= {name for name, _ in entries}
    assert named == set(NAMES)
    assert "plain:" in cells.iloc[0]  # a name that needs no escape is written as it is


@given(
    st.lists(
        st.tuples(st.text(), st.floats(allow_nan=False, min_value=-1, max_value=1)),
        min_size=1,
        max_size=5,
    )
)
def test_any_name_and_contribution_round_trip(pairs: list[tuple[str, float]]) -> None:
    cell = top_features_cell(pairs)
    read = [(name, round(drop, 4) + 0.0) for name, drop in pairs]
    assert read_top_features(cell) == _readme_reader(cell) == read


def test_an_empty_cell_is_no_features() -> None:
    assert read_top_features("") == []


def test_the_cells_of_rows_not_flagged_read_by_pandas_are_no_features(tmp_path: Path) -> None:
    # pd.read_csv reads a row's empty cell as NaN: scores["top_features"].map(read_top_features) ended in
    # AttributeError: 'float' object has no attribute 'split'.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 2)), columns=["flow", "temp"])
    path = DHAG(max_epochs=2, random_state=0).fit(frame).save(tmp_path / "m.dhag")
    rows = frame.iloc[:10].copy()
    rows.iloc[0] = 9.0
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "scores.csv"
    argv = ["score", "--model", str(path), "--data", str(tmp_path / "rows.csv"), "--explain", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    scores = pd.read_csv(out)
    assert scores["anomaly"].iloc[0] == 1 and scores["top_features"].isna().sum() >= 1
    read = scores["top_features"].map(read_top_features)
    assert read.iloc[0] and {name for name, _ in read.iloc[0]} <= {"flow", "temp"}
    assert all(entries == [] for entries in read[scores["anomaly"] == 0])
    assert read_top_features(None) == read_top_features(pd.NA) == []


def test_the_cell_names_only_features_that_raise_the_rows_score(tmp_path: Path) -> None:
    # It listed the top N whatever their sign: 'b:-0.0312' named a feature whose value made the
    # row look more normal, under a column said to hold the features that raise its score.
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    model = DHAG(max_epochs=2, random_state=0).fit(frame)
    path = model.save(tmp_path / "m.dhag")
    rows = frame.iloc[:200].copy()
    rows.iloc[:, 0] += 4.0  # flagged for a, with b, c and d as normal rows hold them
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = io.StringIO()
    with redirect_stdout(out):
        argv = ["score", "--model", str(path), "--data", str(tmp_path / "rows.csv"), "--explain", "4"]
        assert main(argv) == 0
    scores = pd.read_csv(io.StringIO(out.getvalue()), keep_default_na=False)
    flagged = scores.index[scores["anomaly"] == 1]
    ranked = model.explain(rows.iloc[flagged], logit_drops=True)
    assert any(drop < 0 for entries in ranked for _, drop, _ in entries)  # there were some to leave out
    for cell, entries in zip(scores.loc[flagged, "top_features"], ranked, strict=True):
        kept = [(n, round(d, 4) + 0.0) for n, d, lg in entries if d > 0 or (d == 0 and lg > 0)]
        assert read_top_features(cell) == kept
        assert all(drop >= 0 for _, drop in read_top_features(cell))
