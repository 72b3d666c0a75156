"""``dhag-pipeline alerts``: the table's columns line up in a terminal whatever the script of its cells: a
wide (East Asian) character takes two columns, a combining accent none."""

from __future__ import annotations

import argparse
import io
import unicodedata

import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.config import Settings
from pipeline.textwidth import display_width

T = 1.8e9
ACCENTED = "Aq\u0301a"  # an accented letter with no precomposed form: NFC, as labels are, keeps it apart


def _columns(line: str) -> int:
    # What a terminal gives each character: two for wide ones, none for a combining mark.
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in line
    )


def _episode(alert_id: str, asset_id: str, operator: str, sensor: str, opened: float) -> Episode:
    episode = Episode(alert_id, asset_id, opened, 0.9, "v1", [sensor])
    episode.labels = [{"label": "anomaly", "operator": operator, "ts": opened + 60.0}]
    return episode


def test_wide_and_combining_characters_keep_the_columns_aligned(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, cells were padded by their count of characters: a row naming 山田 (two characters, four
    # columns) pushed every later column of its row two columns right of the header's.
    episodes = [
        _episode("a1", "ポンプ-1", "山田", "温度", T),
        _episode("a2", "pump-2", "lee", "temp", T + 1),
        _episode("a3", "pump-3", ACCENTED, "flow", T + 2),
    ]
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(open=False, asset=None, limit=20, json=False, bootstrap="k:9092", since=None)
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 0, err.getvalue()
    assert unicodedata.normalize("NFC", ACCENTED) == ACCENTED
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    for header in ("STATE", "TOP SENSORS", "LABEL"):
        starts = {
            _columns(line[: line.index(word)]) for line, word in zip(lines, _cells(header), strict=True)
        }
        assert len(starts) == 1, (header, lines)


def _cells(header: str) -> list[str]:
    # The text each line has in the column: the header, then the rows newest first.
    return {
        "STATE": [header, "open", "open", "open"],
        "TOP SENSORS": [header, "flow", "temp", "温度"],
        "LABEL": [header, f"anomaly ({ACCENTED})", "anomaly (lee)", "anomaly (山田)"],
    }[header]


def test_display_width() -> None:
    assert [display_width(s) for s in ("", "pump-1", "山田", "ポンプ-1", ACCENTED, "ｱ", "Ａ")] == [
        0, 6, 4, 8, 3, 1, 2
    ]  # fmt: skip
