"""Two releases side by side (a rolling upgrade, a rollback): what each reads of what the other wrote.

The fixtures are literal: messages as an earlier release wrote them (before fields that were added
later), and as a later release may write them (with fields this one does not know). The rules they
pin (docs/upgrades.md): a reader ignores fields it does not know, takes a field added later as
optional with the fallback the docs state, and refuses only a message of another ``schema``, the
one an incompatible change would raise.
"""

from __future__ import annotations

import argparse
import io
import logging
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from test_pipeline_retrain_intake import Msg, _Intake

from pipeline import alertscmd
from pipeline.alertevents import event_of
from pipeline.alerts import AlertTracker
from pipeline.carryover import open_episodes
from pipeline.config import Settings
from pipeline.labels import LabelError, LabelReason, parse_label
from pipeline.labelstore import LabelStore, Source
from pipeline.retrain.alertfeed import AlertEventError, alert_event_of

# -- literal messages ----------------------------------------------------------------------------------

# An open event and its resolution as daemons wrote them before alert events carried
# `suspect_sensors`, `imputed` and `earliest_ts`.
EARLIER_OPEN = (
    b'{"schema": 1, "alert_id": "in-0-41", "asset_id": "pump-07", "state": "open", "opened_at": 1790000000.0,'
    b' "ts": 1790000000.0, "score": 0.93, "threshold": 0.61, "model_version": "v20260101-000000",'
    b' "top_sensors": [{"sensor": "bearing_temp", "contribution": 0.71, "value": 96.5,'
    b' "training_mean": 61.2, "training_range": [48.0, 77.5], "outside_training_range": "above"}],'
    b' "values": {"bearing_temp": 96.5, "flow_m3h": 40.1}, "source": "in/0/41"}'
)
EARLIER_RESOLVED = (
    b'{"schema": 1, "alert_id": "in-0-41", "asset_id": "pump-07", "state": "resolved",'
    b' "opened_at": 1790000000.0, "ts": 1790000600.0, "score": 0.2, "threshold": 0.61,'
    b' "model_version": "v20260101-000000", "top_sensors": [], "values": {"bearing_temp": 96.5},'
    b' "source": "in/0/41", "resolved_by": "normal_scores", "last_source": "in/0/97",'
    b' "latest_ts": 1790000600.0}'
)
# An open event as a later release might write it: fields this release does not know, one of them nested.
LATER_OPEN = (
    b'{"schema": 1, "alert_id": "in-1-7", "asset_id": "fan-02", "state": "open", "opened_at": 1790000000.0,'
    b' "ts": 1790000000.0, "score": 0.88, "threshold": 0.61, "model_version": "v20270101-000000",'
    b' "top_sensors": [{"sensor": "vibration", "contribution": 0.5, "value": 9.1}],'
    b' "suspect_sensors": [{"sensor": "vibration", "value": 9.1, "typical_value": 2.0,'
    b' "score_if_typical": 0.1, "imputed": false}], "values": {"vibration": 9.1},'
    b' "source": "in/1/7", "severity_band": "high", "explanation": {"method": "shap", "rank": [1, 2]}}'
)
# An event of another schema: what an incompatible change of the alert contract would write.
SCHEMA_2_OPEN = LATER_OPEN.replace(b'"schema": 1', b'"schema": 2')

# A label as the `label` command writes it, and one as a later console might: with fields this release
# does not know.
LABEL = b'{"schema": 1, "alert_id": "in-0-41", "label": "anomaly", "operator": "kim", "ts": 1790000700.0}'
LATER_LABEL = (
    b'{"schema": 1, "alert_id": "in-0-41", "label": "normal", "operator": "kim", "ts": 1790000700.0,'
    b' "note": "valve test", "console": "hmi-3", "confidence": 0.8, "tags": ["maintenance"]}'
)
NOW = 1790001000.0


# -- operator labels -----------------------------------------------------------------------------------


def test_a_label_with_fields_this_release_does_not_know_is_taken_without_them() -> None:
    label = parse_label(LATER_LABEL, now=NOW)
    assert (label.alert_id, label.label, label.note) == ("in-0-41", "normal", "valve test")
    assert set(label.as_json()) == {"schema", "alert_id", "label", "operator", "ts", "note"}


def test_the_retrainer_keeps_a_later_consoles_label_and_names_the_fields_it_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    intake = _Intake(store)
    intake.clock = lambda: NOW
    intake._alerts([Msg("alerts", 0, 0, b"pump-07", EARLIER_OPEN)])
    with caplog.at_level(logging.WARNING, logger="pipeline.retrain.intake"):
        intake._labels([Msg("labels", 0, 4, b"in-0-41", LATER_LABEL)], producer=None)
    assert intake._dead_letters.sent == []
    [kept] = store.latest_labels()
    assert (kept.alert_id, kept.y, kept.operator) == ("in-0-41", 0, "kim")  # normal: a false alarm
    assert "confidence, console, tags" in caplog.text and "labels/0/4" in caplog.text


def test_a_later_consoles_label_left_pending_by_a_later_retrainer_is_kept_after_a_rollback(
    tmp_path: Path,
) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    store.add_pending("in-0-41", LATER_LABEL, Source("labels", 0, 4, "d"), first_seen=NOW)
    intake = _Intake(store)
    intake.clock = lambda: NOW
    intake._alerts([Msg("alerts", 0, 0, b"pump-07", EARLIER_OPEN)])
    intake._retry_pending(producer=None)
    assert intake._dead_letters.sent == [] and store.pending_count() == 0
    assert [(lab.alert_id, lab.y) for lab in store.latest_labels()] == [("in-0-41", 0)]


def test_a_label_of_this_release_and_one_without_a_schema_are_taken() -> None:
    assert parse_label(LABEL, now=NOW).label == "anomaly"
    assert parse_label(LABEL.replace(b'"schema": 1, ', b""), now=NOW).label == "anomaly"


def test_a_label_of_another_schema_is_dead_lettered_naming_it() -> None:
    with pytest.raises(LabelError) as caught:
        parse_label(LATER_LABEL.replace(b'"schema": 1', b'"schema": 2'), now=NOW)
    assert caught.value.reason == LabelReason.BAD_VALUE
    assert "schema" in caught.value.detail


# -- alert events: the retrainer ------------------------------------------------------------------------


def test_the_retrainer_keeps_an_earlier_releases_events_with_the_fallbacks_for_later_fields() -> None:
    opened, resolved = alert_event_of(EARLIER_OPEN), alert_event_of(EARLIER_RESOLVED)
    assert (opened["alert_id"], opened["state"], opened["earliest_ts"]) == ("in-0-41", "open", None)
    assert (resolved["state"], resolved["latest_ts"], resolved["earliest_ts"]) == (
        "resolved",
        1790000600.0,
        None,  # the label store starts the episode at its opening reading
    )


def test_the_retrainer_keeps_a_later_releases_event_without_the_fields_it_does_not_know() -> None:
    event = alert_event_of(LATER_OPEN)
    assert (event["alert_id"], event["asset_id"], event["values"]) == ("in-1-7", "fan-02", {"vibration": 9.1})


def test_the_retrainer_refuses_an_event_of_another_schema_naming_it() -> None:
    with pytest.raises(AlertEventError, match="schema 2"):
        alert_event_of(SCHEMA_2_OPEN)
    with pytest.raises(AlertEventError, match="schema"):
        alert_event_of(EARLIER_OPEN.replace(b'"schema": 1', b'"schema": true'))


# -- alert events: the daemon's carry-over --------------------------------------------------------------


def _carried(*raws: bytes) -> list:
    found = open_episodes([orjson.loads(r) for r in raws], input_topic="in")
    return [t for ts in found.values() for t in ts]


def test_an_episode_an_earlier_release_opened_is_carried_on_and_resolves_with_the_fallbacks() -> None:
    (episode,) = _carried(EARLIER_OPEN)
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600)
    assert tracker.adopt(episode, now=NOW)
    resolved = tracker.observe("pump-07", False, 0.1, 1790000900.0, now=NOW + 1, seed="in/0/99")
    assert resolved is not None and resolved.alert_id == "in-0-41"
    event = event_of(resolved, resolved.context, 0.61, "v2", ["bearing_temp", "flow_m3h"])
    assert event["suspect_sensors"] == []  # not known for an event written before alerts had them
    assert event["earliest_ts"] == 1790000000.0  # its opening reading
    assert "imputed" not in event  # its sensors all had numbers
    assert event["top_sensors"] == orjson.loads(EARLIER_OPEN)["top_sensors"]
    assert _carried(EARLIER_OPEN, EARLIER_RESOLVED) == []


def test_an_episode_a_later_release_opened_is_carried_on_without_the_fields_it_does_not_know() -> None:
    (episode,) = _carried(LATER_OPEN)
    assert (episode.alert_id, episode.asset_id, episode.source) == ("in-1-7", "fan-02", "in/1/7")
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600)
    tracker.adopt(episode, now=NOW)
    resolved = tracker.observe("fan-02", False, 0.1, 1790000900.0, now=NOW + 1, seed="in/1/9")
    event = event_of(resolved, resolved.context, 0.61, "v2", ["vibration"])
    assert event["suspect_sensors"][0]["sensor"] == "vibration"
    assert "severity_band" not in event and "explanation" not in event
    orjson.dumps(event)


def test_an_event_of_another_schema_is_not_carried_on() -> None:
    assert _carried(SCHEMA_2_OPEN) == []
    assert [t.alert_id for t in _carried(LATER_OPEN.replace(b'"schema": 1, ', b""))] == ["in-1-7"]


# -- alert events: the `alerts` command -----------------------------------------------------------------


def _topics_hold(monkeypatch, held: dict[str, list[bytes]]) -> None:  # noqa: ANN001
    """The consoles read ``held``'s values from each topic it names (written at ``NOW``)."""
    monkeypatch.setattr(
        alertscmd,
        "read_topic",
        lambda bootstrap, topic, *_: [
            SimpleNamespace(topic=topic, partition=0, offset=i, value=v, timestamp=int(NOW * 1000))
            for i, v in enumerate(held[topic])
        ],
    )


def test_the_alerts_command_lists_both_releases_episodes_and_leaves_out_another_schemas(monkeypatch) -> None:
    topics = Settings().kafka.topics
    held = {
        topics.alerts: [
            EARLIER_OPEN,
            EARLIER_RESOLVED,
            LATER_OPEN,
            SCHEMA_2_OPEN.replace(b"in-1-7", b"in-1-8"),
        ],
        topics.labels: [LATER_LABEL],
    }
    _topics_hold(monkeypatch, held)
    episodes = alertscmd.read_episodes(Settings(), "broker:9092")
    assert sorted(episodes) == ["in-0-41", "in-1-7"]
    earlier, later = episodes["in-0-41"], episodes["in-1-7"]
    assert (earlier.state, earlier.resolved_at, earlier.suspect_sensors) == ("resolved", 1790000600.0, [])
    assert [lab["label"] for lab in earlier.labels] == ["normal"]
    assert (later.state, later.suspect_sensors[0]["sensor"]) == ("open", "vibration")


@pytest.mark.parametrize("control", ["\x7f", "\x85", "\x9b"])
def test_the_note_on_events_of_another_schema_escapes_a_schema_that_acts_on_the_terminal(
    monkeypatch, control: str
) -> None:
    # Before, the schema was shown as orjson writes it, which leaves DEL and the C1 controls (0x7f to
    # 0x9f) as they are: "\x9b2J" (CSI, ESC [) in an event's schema cleared the operator's screen.
    schema = orjson.dumps(f"2{control}2J").decode()
    alerts = [SCHEMA_2_OPEN.replace(b'"schema": 2', f'"schema": {schema}'.encode())]
    topic = Settings().kafka.topics.alerts
    monkeypatch.setattr(
        alertscmd,
        "read_topic",
        lambda bootstrap, t, *_: [
            SimpleNamespace(topic=t, partition=0, offset=i, value=v, timestamp=int(NOW * 1000))
            for i, v in enumerate(alerts if t == topic else [])
        ],
    )
    said: list[str] = []
    assert alertscmd.read_episodes(Settings(), "broker:9092", say=said.append) == {}
    shown = repr(control)[1:-1]
    assert said == [
        f'left out 1 alert event of {topic} of schema "2{shown}2J": a later release of dhag-pipeline '
        "wrote them, and this one reads schema 1 only; run the daemons' release of `dhag-pipeline "
        "alerts` to see them"
    ]
    assert said[0].isprintable()


def test_alerts_of_an_asset_whose_events_are_all_of_another_schema_says_so(monkeypatch) -> None:
    # Before, it said no episode of fan-02 was on the topic, "or the id is mistyped", naming pump-07.
    topics = Settings().kafka.topics
    held = {topics.alerts: [EARLIER_OPEN, SCHEMA_2_OPEN], topics.labels: []}
    _topics_hold(monkeypatch, held)
    options = {"open": False, "limit": 20, "json": False, "bootstrap": "k:9092", "since": None}
    args = argparse.Namespace(asset="fan-02", **options)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 2
    assert out.getvalue() == ""
    said = err.getvalue()
    assert "fan-02 has events on anomaly-alerts of schema 2 only" in said and "mistyped" not in said
