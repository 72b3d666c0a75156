"""``dhag-pipeline alerts``: an alert id or a model version over 24 columns (a name given by
``models train --version``, up to 100 characters) are shortened in their middle in the table, in a
terminal and in a pipe alike, so that one of them no longer widens every row; the daemon's own ids
(20 characters) and default version names stay whole, ``--json`` gives both whole, and ``label`` given
an id as the table shortens it names the whole one (no broker needed)."""

from __future__ import annotations

import argparse
import io
import json
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.alertsfit import ALERT_ID_COLUMNS, MODEL_COLUMNS, middle_clipped
from pipeline.cli import _console_parser
from pipeline.config import Settings
from pipeline.textwidth import display_width

T = 1.8e9
LONG_ID = "maintenance-console/" + "0" * 70 + "/pump-01-e1"
LONG_MODEL = "pump-station-north-retrained-after-bearing-replacement-2026-12-04-candidate-b"
DAEMON_ID, DEFAULT_MODEL = "ceabbc1ea354142de2b0", "v20261203T041512Z-1234"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _episodes() -> list[Episode]:
    return [
        Episode(LONG_ID, "pump-01", T, 0.9, LONG_MODEL, ["flow_m3h"]),
        *(
            Episode(f"{DAEMON_ID[:-2]}{k:02d}", "pump-02", T + k, 0.8, DEFAULT_MODEL, ["temp"])
            for k in range(1, 4)
        ),
    ]


def _listed(monkeypatch: pytest.MonkeyPatch, out: io.StringIO, *, as_json: bool = False) -> list[str]:
    episodes = _episodes()
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    monkeypatch.setenv("COLUMNS", "80")
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    err = io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 0, err.getvalue()
    return out.getvalue().splitlines()


def test_an_80_column_terminal_keeps_each_episode_to_two_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, the 100-character id and the 77-character version were kept whole: every episode of the
    # table took four lines, the id's line wrapping past the terminal's 80 columns.
    lines = _listed(monkeypatch, Terminal())
    assert len(lines) == 2 * 5 and all(display_width(line) <= 80 for line in lines), lines
    assert lines[0].startswith("ALERT_ID ") and lines[2].startswith(f"{DAEMON_ID[:-2]}03 ")
    assert DEFAULT_MODEL in lines[3]  # the default names whole


@pytest.mark.parametrize("out", [Terminal(), io.StringIO()], ids=["terminal", "pipe"])
def test_a_long_id_and_version_are_shortened_in_their_middle(
    monkeypatch: pytest.MonkeyPatch, out: io.StringIO
) -> None:
    text = "\n".join(_listed(monkeypatch, out))
    short_id, short_model = (
        middle_clipped(LONG_ID, ALERT_ID_COLUMNS),
        middle_clipped(LONG_MODEL, MODEL_COLUMNS),
    )
    assert short_id in text and short_model in text, text
    assert LONG_ID not in text and LONG_MODEL not in text
    assert short_id.startswith("maintenanc") and short_id.endswith("/pump-01-e1")
    assert short_model.endswith("candidate-b") and display_width(short_model) <= MODEL_COLUMNS


def test_the_json_gives_them_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = [json.loads(line) for line in _listed(monkeypatch, io.StringIO(), as_json=True)]
    assert (listed[-1]["alert_id"], listed[-1]["model_version"]) == (LONG_ID, LONG_MODEL)


def test_label_given_the_id_as_the_table_shortens_it_names_the_whole_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = [
        {
            "alert_id": e.alert_id,
            "asset_id": e.asset_id,
            "state": "open",
            "opened_at": e.opened_at,
            "ts": e.opened_at,
        }
        for e in _episodes()
    ]
    records = [SimpleNamespace(value=orjson.dumps(event)) for event in events]
    monkeypatch.setattr(
        alertscmd, "read_topic", lambda _b, topic, *_, **__: records if "alert" in topic else []
    )
    shortened = middle_clipped(LONG_ID, ALERT_ID_COLUMNS)
    argv = ["label", shortened, "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"]
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), _console_parser().parse_args(argv), out, err) == 2
    assert f"; did you mean {LONG_ID}? " in err.getvalue(), err.getvalue()
