"""``dhag-pipeline alerts``' table and the characters of East Asian Width "ambiguous" (``…``, ``°``, ``é``,
Greek letters): a terminal in a Chinese, Japanese or Korean locale gives them two columns, elsewhere
one. The table measures them as the locale's terminals show them, and cuts a cell short with ``...``,
which takes three columns everywhere (no broker needed)."""

from __future__ import annotations

import argparse
import io
import locale
import unicodedata

import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.alertsfit import clipped, fitted_lines
from pipeline.config import Settings
from pipeline.textwidth import ambiguous_width, display_width, table_lines

T = 1.8e9


def _cjk_columns(line: str) -> int:
    # What a terminal in a CJK locale gives each character: two for wide and ambiguous ones.
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F", "A") else 1
        for c in line
    )


ROWS = [
    ("ID", "TOP SENSORS", "LABEL"),
    ("a1", "temp_°C,Δp_bar,débit_m³h,vibration_mm_s,current_A", "anomaly (lee)"),
    ("a2", "flow_m3h,temp", "normal (José)"),
]


def test_a_cut_cell_ends_with_a_mark_of_one_width_everywhere() -> None:
    # Before, a cut cell ended with "…" (ambiguous): two columns in a CJK locale, so every cut row took
    # one column more than the table measured, past the terminal's edge.
    cut = clipped("flow_m3h,temp_c,vibration", 12)
    assert cut == "flow_m3h,..." and cut.isascii()


@pytest.mark.parametrize("locale_name", ["ja_JP.UTF-8", "zh_CN.GB18030", "ko_KR.UTF-8", "zh_TW"])
def test_in_a_cjk_locale_ambiguous_characters_take_two_columns(locale_name: str) -> None:
    wide = ambiguous_width(locale_name)
    assert wide == 2
    assert display_width("temp_°C", wide) == 8 and display_width("temp_°C") == 7
    lines = fitted_lines(ROWS, 40, [1], wide)
    assert all(_cjk_columns(line) <= 40 for line in lines), lines
    # Each row's LABEL starts at the header's column, as a CJK terminal shows them.
    starts = {
        _cjk_columns(line[: line.index(word)])
        for line, word in zip(lines, ("LABEL", "anomaly", "normal"), strict=True)
    }
    assert len(starts) == 1, lines
    whole = table_lines(ROWS, ambiguous=wide)
    starts = {
        _cjk_columns(line[: line.index(word)])
        for line, word in zip(whole, ("LABEL", "anomaly", "normal"), strict=True)
    }
    assert len(starts) == 1, whole


@pytest.mark.parametrize("locale_name", ["en_US.UTF-8", "C.UTF-8", "C", "de_DE.UTF-8", None])
def test_elsewhere_they_take_one(locale_name: str | None) -> None:
    assert ambiguous_width(locale_name or "C") == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_alerts_in_a_japanese_terminal_fits_it_as_the_terminal_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sensors = ["temp_°C", "Δp_bar", "débit_m³h", "vibration_mm_s", "current_A"]
    episodes = [Episode(f"a{n}", "pump-01", T + n, 0.9, "v1", sensors) for n in range(2)]
    episodes[0].labels = [{"label": "anomaly", "operator": "José", "ts": T + 60.0}]
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    monkeypatch.setattr(locale, "setlocale", lambda category, name=None: "ja_JP.UTF-8")
    monkeypatch.setenv("COLUMNS", "125")  # the table one line wide, its TOP SENSORS cut
    out = Terminal()
    args = argparse.Namespace(open=False, asset=None, limit=20, json=False, bootstrap="k:9092", since=None)
    assert alertscmd.run_alerts(Settings(), args, out=out, err=io.StringIO()) == 0
    header, newer, older = out.getvalue().splitlines()
    # Before, the cut TOP SENSORS cells took five columns more than measured (°, Δ, é, ³ and …): each
    # row ran past the terminal's edge and wrapped.
    assert all(_cjk_columns(line) <= 125 for line in (header, newer, older)) and "..." in newer
    starts = {_cjk_columns(header[: header.index("LABEL")])}
    starts |= {_cjk_columns(newer[: newer.rindex("-")]), _cjk_columns(older[: older.index("anomaly")])}
    assert len(starts) == 1, (header, newer, older)
