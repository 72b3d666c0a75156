"""``dhag-pipeline alerts``: in a terminal its table fits the terminal's columns (the free-text columns
cut short with an ellipsis, never inside an escape or a wide character; ids, asset, times and label
whole); to a pipe or a file it is as wide as its cells, as before, and ``--json`` is never cut."""

from __future__ import annotations

import argparse
import io
import re

import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import COLUMNS, Episode
from pipeline.alertsfit import clipped
from pipeline.config import Settings
from pipeline.textwidth import display_width, table_lines

T = 1.8e9
SENSORS = ["suction_pressure", "discharge_temp", "flow_m3h", "bearing_vibration", "motor_current"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _episodes() -> list[Episode]:
    episodes = []
    for n, operator in enumerate(("yamada", "lee")):
        episode = Episode(f"3f9a1c2b7d4e5f6a8b9{n}", f"pump-0{n}", T + n, 0.912, "v20261204-1", SENSORS)
        episode.threshold = 0.5
        episode.outside_training_range = {"suction_pressure": "below"}
        episode.suspect_sensors = [{"sensor": "suction_pressure", "value": 0.0, "typical_value": 41.2}]
        episode.labels = [{"label": "anomaly", "operator": operator, "ts": T + 60.0}]
        episodes.append(episode)
    return episodes


def _listed(
    monkeypatch: pytest.MonkeyPatch, out: io.StringIO, episodes: list[Episode], **given: object
) -> str:
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    args = argparse.Namespace(open=False, asset=None, limit=20, json=False, bootstrap="k:9092", since=None)
    vars(args).update(given)
    err = io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 0, err.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("columns", [80, 120, 150])
def test_a_terminal_gets_a_table_that_fits_it(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    # Before, the table was as wide as its cells (about 210 columns here) whatever the terminal, and an
    # 80-column terminal wrapped each row over three lines.
    monkeypatch.setenv("COLUMNS", str(columns))
    episodes = _episodes()
    text = _listed(monkeypatch, Terminal(), episodes)
    assert max(display_width(line) for line in text.splitlines()) <= columns, text
    assert "..." in text
    for episode in episodes:
        row = episode.row()
        for column in ("ALERT_ID", "ASSET", "STATE", "OPENED", "SCORE", "THRESHOLD", "MODEL", "LABEL"):
            assert re.search(rf"(^|  ){re.escape(row[COLUMNS.index(column)])}(  |$)", text, re.M), (
                column,
                text,
            )
    if columns >= 150:  # room for all on one line (the cut columns at ten): one line an episode
        assert len(text.splitlines()) == 1 + len(episodes)


def test_a_terminal_wide_enough_gets_the_table_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    episodes = _episodes()
    full = table_lines([COLUMNS, *(e.row() for e in sorted(episodes, key=lambda e: -e.opened_at))])
    assert _listed(monkeypatch, Terminal(), episodes) == "".join(line + "\n" for line in full)


def test_a_pipe_or_a_file_gets_the_full_table_and_json_is_never_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    episodes = _episodes()
    full = table_lines([COLUMNS, *(e.row() for e in sorted(episodes, key=lambda e: -e.opened_at))])
    assert max(len(line) for line in full) > 200
    assert _listed(monkeypatch, io.StringIO(), episodes) == "".join(line + "\n" for line in full)
    piped = _listed(monkeypatch, io.StringIO(), episodes, json=True)
    assert _listed(monkeypatch, Terminal(), episodes, json=True) == piped
    assert "..." not in piped and SENSORS[-1] in piped


def test_escapes_and_wide_characters_are_never_cut_in_two(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sensor's name is shown escaped ('temp\x1b[2J'): a cut inside \x1b would show an escape that is
    # not there; and half a wide character cannot be shown.
    monkeypatch.setenv("COLUMNS", "100")
    episode = Episode("a1", "ポンプ-1", T, 0.9, "v1", ["温度計測値_吐出側", "temp\x1b[2J\u200bflow", "流量"])
    episode.labels = [{"label": "anomaly", "operator": "山田", "ts": T + 60.0}]
    text = _listed(monkeypatch, Terminal(), [episode])
    assert max(display_width(line) for line in text.splitlines()) <= 100, text
    full = episode.row()[COLUMNS.index("TOP SENSORS")]
    for width in range(10, display_width(full)):
        cut = clipped(full, width)
        assert display_width(cut) <= width and cut.endswith("...") and full.startswith(cut[:-3])
        assert not re.search(r"(?<!\\)\\(x[0-9a-f]?|u[0-9a-f]{0,3})$", cut[:-1]), cut
        assert display_width(cut) >= width - 6, (width, cut)  # cut no shorter than the escape it spares


def test_a_combining_accent_stays_with_its_letter() -> None:
    assert clipped("Aq\u0301abcdef", 5) == "Aq\u0301..."
    assert clipped("Aq\u0301abcdef", 4) == "A..."
