"""``dhag-pipeline label`` refuses what the labels contract refuses before reaching Kafka, and says so in
the command's terms: the option (``--operator``, ``--note``, ``ALERT_ID``) rather than the message's
field, what would be right, and a bad value shortened (an id pasted a thousand times over is not quoted
back whole)."""

from __future__ import annotations

import io

import pytest

from pipeline import alertscmd
from pipeline.cli import _console_parser
from pipeline.config import Settings


def _label(monkeypatch: pytest.MonkeyPatch, *argv: str) -> str:
    def unreachable(*_: object, **__: object) -> None:
        raise AssertionError("a refused label reached Kafka")

    monkeypatch.setattr(alertscmd, "read_topic", unreachable)
    args = _console_parser().parse_args(["label", *argv, "--bootstrap", "k:9092"])
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), args, out, err) == 2
    assert out.getvalue() == ""
    text = err.getvalue()
    assert text.startswith("label refused: ") and text.endswith("; no label was written\n"), text
    return text


@pytest.mark.parametrize("operator", ["", "   ", "kim\x01"])
def test_a_blank_operator_is_refused_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, operator: str
) -> None:
    err = _label(monkeypatch, "a1", "--normal", "--operator", operator)
    assert err.startswith("label refused: --operator ") and "operator:" not in err
    assert "who labels" in err


def test_a_long_operator_is_refused_with_its_length_not_its_whole_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    err = _label(monkeypatch, "a1", "--normal", "--operator", "k" * 1000)
    assert err.startswith("label refused: --operator ") and "1 to 128 characters" in err
    assert "1000 characters" in err and len(err) < 250, err


def test_a_bad_alert_id_is_refused_in_words_naming_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _label(monkeypatch, "a" * 1000, "--anomaly", "--operator", "kim")
    assert err.startswith("label refused: ALERT_ID ") and "1000 characters" in err and len(err) < 400, err
    assert "[A-Za-z0-9]" not in err and "alert_id:" not in err
    err = _label(monkeypatch, "pump 07", "--anomaly", "--operator", "kim")
    assert err.startswith("label refused: ALERT_ID ") and "'pump 07'" in err and "dhag-pipeline alerts" in err


def test_a_long_note_is_refused_naming_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _label(monkeypatch, "a1", "--normal", "--operator", "kim", "--note", "n" * 3000)
    assert err.startswith("label refused: --note ") and "at most 2000 characters" in err
    assert "3000 characters" in err and len(err) < 250, err


def test_the_help_names_the_argument_and_the_limits_as_the_refusals_do() -> None:
    parser = _console_parser()
    (label,) = (p for a in parser._subparsers._group_actions for n, p in a.choices.items() if n == "label")
    text = " ".join(label.format_help().split())
    assert "ALERT_ID" in text and "alert_id" not in text.replace("ALERT_ID", "")
    assert "1 to 128 characters" in text and "up to 2000 characters" in text
