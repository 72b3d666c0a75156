"""An operator's name with spaces around it (``--operator "kim "``, a console that pads its field) or a run
of spaces inside is the same operator: the labels contract takes the name without them, wherever a label
comes from (``dhag-pipeline label``, a console writing the labels topic), so a repeat answer stays a
repeat in the label store, in ``alerts`` and in ``label``'s notes."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest
from labels_support import LabelProducer, open_alert

from pipeline import alertscmd
from pipeline.config import Settings
from pipeline.labels import LabelError, label_message, parse_label
from pipeline.labelstore import LabelStore, Source, Taken


def _label(operator: str, label: str = "normal") -> bytes:
    return orjson.dumps({"alert_id": "a1", "label": label, "operator": operator, "ts": 100.0})


@pytest.mark.parametrize("given", ["kim ", " kim", "  kim\u0020 "])
def test_a_label_names_its_operator_without_spaces_around(given: str) -> None:
    assert parse_label(_label(given)).operator == "kim"


def test_a_run_of_spaces_inside_a_name_is_one() -> None:
    assert parse_label(_label(" kim   lee ")).operator == "kim lee"


def test_the_same_answer_with_a_padded_name_is_a_repeat_in_the_label_store() -> None:
    store = LabelStore(":memory:")
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0}))
    assert store.add_label(parse_label(_label("kim")), Source("labels", 0, 0)) is Taken.NEW
    assert store.add_label(parse_label(_label("kim ")), Source("labels", 0, 1)) is Taken.REPEAT
    assert [h["operator"] for h in store.history("a1")] == ["kim"]


def test_label_writes_the_name_without_its_spaces() -> None:
    raw = label_message(alert_id="a1", label="normal", operator=" kim ", now=100.0)
    assert orjson.loads(raw)["operator"] == "kim"


def test_label_tells_a_padded_name_s_answer_again_as_a_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    event = {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 1.8e9, "ts": 1.8e9}
    given = {"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 1.8e9 + 5, "label_id": "m1"}
    topics = {
        "anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event), timestamp=int(1.8e9 * 1000))],
        "operator-labels": [
            SimpleNamespace(topic="operator-labels", partition=0, offset=0, value=orjson.dumps(given),
                            timestamp=int((1.8e9 + 5) * 1000))
        ],
    }  # fmt: skip
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *_: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args(["a1", "--normal", "--operator", "kim ", "--bootstrap", "k:9092"])
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), args, out, err) == 0, err.getvalue()
    assert "repeats it and counts once" in out.getvalue()
    assert "by kim\n" in out.getvalue() and "kim " not in out.getvalue()
    assert orjson.loads(LabelProducer.sent[-1])["operator"] == "kim"


@pytest.mark.parametrize("given", ["山田\u3000太郎", "山田 太郎\u3000", "kim\u00a0lee"])
def test_a_name_spaced_with_another_space_than_ascii_s_is_taken(given: str) -> None:
    # An input method's ideographic space between family and given name, a no-break space: spaces.
    expected = "山田 太郎" if "山田" in given else "kim lee"
    assert parse_label(_label(given)).operator == expected
    raw = label_message(alert_id="a1", label="normal", operator=given, now=100.0)
    assert orjson.loads(raw)["operator"] == expected


@pytest.mark.parametrize("given", ["kim\tlee", "kim\nlee", "kim\u2028lee", "kim\u200b", "\u200ekim"])
def test_control_and_invisible_characters_are_still_refused_saying_so(given: str) -> None:
    with pytest.raises(LabelError, match="operator") as refused:
        parse_label(_label(given))
    assert "invisible" in refused.value.detail


def test_the_name_s_length_is_counted_without_its_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: " " + 127 characters + "  " was refused as over 128 characters, counted before the spaces
    # the contract drops, and so was "kim   " 30 times over (180 characters; the name is 119).
    name = "k" * 127
    assert parse_label(_label(f" {name}  ")).operator == name
    assert parse_label(_label("  " + "k" * 128 + "\u3000")).operator == "k" * 128
    assert parse_label(_label("kim   " * 30)).operator == " ".join(["kim"] * 30)
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *_: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args(
        ["a1", "--normal", "--operator", f" {name} ", "--unchecked", "--bootstrap", "k:9"]
    )
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), args, out, err) == 0, err.getvalue()
    assert orjson.loads(LabelProducer.sent[-1])["operator"] == name


def test_a_name_longer_than_128_characters_without_its_spaces_is_still_refused() -> None:
    with pytest.raises(LabelError) as refused:
        parse_label(_label(" " + "k" * 129 + " "))
    assert refused.value.field == "operator" and refused.value.kind == "string_too_long"
    assert refused.value.limits == {"max_length": 128, "length": 129}  # the length counted so
    assert refused.value.given == " " + "k" * 129 + " "  # what was given, as the refusal quotes it
    assert "at most 128 characters, counted without the spaces around it" in refused.value.detail
    assert "it has 129" in refused.value.detail
