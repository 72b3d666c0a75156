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
    err = _label(monkeypatch, "pump\n07", "--anomaly", "--operator", "kim")
    assert (
        err.startswith("label refused: ALERT_ID ") and "'pump\\n07'" in err and "dhag-pipeline alerts" in err
    )


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


def test_a_padded_long_operator_is_quoted_with_the_length_the_contract_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: a name of 129 characters with a space either side was quoted as "(131 characters)",
    # where the contract counts the name without those spaces (a padded 127 is taken).
    err = _label(monkeypatch, "a1", "--normal", "--operator", " " + "k" * 129 + " ")
    assert "1 to 128 characters" in err and "(129 characters without the spaces around it)" in err, err
    assert "131" not in err and "got 'kkkk" in err


def test_an_operator_with_a_control_character_is_refused_for_it_whatever_its_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The contract checks what the name holds before its length. Before, label quoted such a name's
    # first 40 characters and its length alone, as if its length were the fault (trimmed to 128, it
    # was refused again), and the control character lay beyond what it quoted.
    import orjson

    from pipeline.labels import LabelError, parse_label

    given = " " + "k" * 129 + "\x07 "
    err = _label(monkeypatch, "a1", "--normal", "--operator", given)
    assert r"which holds '\x07' (a control character) at character 131" in err, err
    assert "without the spaces around it" not in err
    with pytest.raises(LabelError) as refused:
        parse_label(orjson.dumps({"alert_id": "a1", "label": "normal", "ts": 5, "operator": given}))
    assert refused.value.kind == "value_error"
    assert r"it holds '\x07' (a control character) at character 131" in refused.value.detail
