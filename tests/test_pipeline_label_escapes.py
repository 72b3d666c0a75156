"""``dhag-pipeline label`` names alert ids and asset ids it read from the alerts topic (a shared cluster's,
which any client allowed to write there fills): a line break or a terminal's escape in one is shown
escaped as ``dhag info`` shows a column's name (:func:`dhag.infotext.shown_name`), so that it neither
breaks the line nor acts on the operator's terminal."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from labels_support import LabelProducer

from pipeline import alertscmd
from pipeline.config import Settings

ODD_ID = "a1234567\x1b[2J"  # clears the screen
SHOWN_ID = r"'a1234567\x1b[2J'"


def _label(monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], alert_id: str) -> tuple[int, str, str]:
    message = SimpleNamespace(value=orjson.dumps(event), timestamp=int(1.8e9 * 1000))
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: [message] if "alert" in topic else [])
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *_: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args([alert_id, "--normal", "--operator", "kim", "--bootstrap", "k:9092"])
    out, err = io.StringIO(), io.StringIO()
    code = alertscmd.run_label(Settings(), args, out, err)
    return code, out.getvalue(), err.getvalue()


def _event(alert_id: str, asset_id: str = "pump-01") -> dict[str, Any]:
    return {"alert_id": alert_id, "asset_id": asset_id, "state": "open", "opened_at": 1.8e9, "ts": 1.8e9}


def test_an_alert_id_with_a_terminal_escape_is_named_escaped_where_it_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, it was listed and suggested for a mistyped id, written raw; an id that does not print is
    # no alert the retrainer keeps, so it is left out, named escaped.
    code, _, said = _label(monkeypatch, _event(ODD_ID), "a1234567")
    assert code == 2
    assert "\x1b" not in said and "\x07" not in said and len(said.splitlines()) == 2, said
    assert f"(partition ? offset ?: alert {SHOWN_ID}: alert_id must be a printable string" in said


def test_the_asset_of_the_alert_refused_is_shown_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, the line saying what was labelled wrote the asset id from the alert event raw; such an
    # asset id is no id the retrainer keeps the alert by, so the alert is refused, the id shown escaped.
    LabelProducer.sent.clear()
    code, _, said = _label(monkeypatch, _event("a1", "pump-01\n\x1b]0;owned\x07"), "a1")
    assert code == 2 and LabelProducer.sent == []
    assert "\x1b" not in said and "\x07" not in said and len(said.splitlines()) == 1, said
    assert (
        r"(asset_id must be a printable string of 1 to 256 characters, got 'pump-01\n\x1b]0;owned\x07')"
        in said
    )
