"""Labels on the real embedded broker: the retrainer's ingest (DLQ, pending, join) and the CLI commands."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import orjson
import pytest
import yaml
from kafka import KafkaProducer
from pipeline_kafka import make_settings, produce, read_topic, sample
from prometheus_client import CollectorRegistry

from dhag import DHAG
from pipeline.broker import EmbeddedBroker
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.registry import publish
from pipeline.retrain.service import Retrainer
from pipeline.topics import ensure_topics

pytestmark = pytest.mark.integration


def _settings(tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG, **retrain: object) -> Settings:
    registry = tmp_path / "registry"
    publish(registry, fitted, "v1")
    uid = tmp_path.name[-12:].replace("_", "-").strip("-")
    settings = make_settings(
        tansu.bootstrap_servers,
        registry,
        topics={"labels": f"labels-{uid}", "labels_dlq": f"labels-{uid}.dlq"},
        retrain={"label_retry_s": 60.0} | retrain,
    )
    t = settings.kafka.topics
    ensure_topics(
        tansu.bootstrap_servers, {t.labels: 2, t.labels_dlq: 1}, create_missing=True, replication_factor=1
    )
    return settings


def _alert(
    alert_id: str,
    asset: str,
    opened_at: float,
    state: str = "open",
    ts: float | None = None,
    side: str | None = None,
) -> bytes:
    top = {"sensor": "flow_total", "contribution": 0.3, "value": 4.0, "mean": 0.0}
    if side is not None:
        top |= {"training_range": [0.0, 3.0], "outside_training_range": side}
    return orjson.dumps(
        {
            "schema": 1,
            "alert_id": alert_id,
            "asset_id": asset,
            "state": state,
            "opened_at": opened_at,
            "ts": opened_at if ts is None else ts,
            "score": 0.93,
            "threshold": 0.52,
            "model_version": "v1",
            "top_sensors": [top],
            "values": {"flow_a": 1.0, "flow_b": 1.0, "flow_total": 4.0, "vibration": 0.0},
        }
    )


def _label(**fields: object) -> bytes:
    # A time in the past: a label dated ahead of the clock is refused.
    return orjson.dumps({"operator": "kim", "ts": 1_790_000_000.0, "label": "anomaly"} | fields)


def test_the_retrainer_dead_letters_bad_labels_and_joins_or_expires_pending_ones(
    tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG
) -> None:
    settings = _settings(tansu, tmp_path, fitted)
    t, bootstrap = settings.kafka.topics, tansu.bootstrap_servers
    clock, ticks = [1000.0], [0.0]  # the wall clock and the monotonic one
    registry = CollectorRegistry()
    store = LabelStore(tmp_path / "labels.sqlite")
    retrainer = Retrainer(
        settings,
        store,
        RetrainMetrics(registry),
        bootstrap_servers=bootstrap,
        clock=lambda: clock[0],
        monotonic=lambda: ticks[0],
    )
    retrainer.open()
    try:
        produce(bootstrap, t.alerts, [(b"p1", _alert("a-known", "p1", 100.0))])
        positions = produce(
            bootstrap,
            t.labels,
            [
                (b"x", b"{oops"),
                (b"x", _label(alert_id="a-known", label="maybe")),
                (b"a-known", _label(alert_id="a-known", label="normal")),
                (b"a-late", _label(alert_id="a-late")),
                (b"a-never", _label(alert_id="a-never")),
                (b"p2", _label(asset_id="p2", ts=50.0, values={"flow_a": 0.0}, label="normal")),
            ],
        )
        retrainer.catch_up(timeout_s=30)
        dlq = read_topic(bootstrap, t.labels_dlq, count=2, timeout_s=20)
        assert sorted(dict(m.headers)["dlq.reason"] for m in dlq) == [b"bad_value", b"not_json"]
        wrong = next(m for m in dlq if dict(m.headers)["dlq.reason"] == b"bad_value")
        assert b"label" in dict(wrong.headers)["dlq.detail"]
        assert orjson.loads(wrong.value)["label"] == "maybe"  # the original bytes
        assert dict(wrong.headers)["dlq.source.topic"] == t.labels.encode()
        assert (
            int(dict(wrong.headers)["dlq.source.partition"]),
            int(dict(wrong.headers)["dlq.source.offset"]),
        ) in positions
        assert sample(registry, "dhag_labels_dlq_total", {"reason": "not_json"}) == 1
        # The two labels waiting for their alert count once they join it.
        assert sample(registry, "dhag_labels_received_total", {"label": "anomaly"}) == 0
        assert sample(registry, "dhag_labels_received_total", {"label": "normal"}) == 2
        assert sample(registry, "dhag_labels_pending") == 2
        assert [r.alert_id for r in store.latest_labels()] == [None, "a-known"]

        # The alert arrives inside the retry window: the waiting label joins it.
        produce(bootstrap, t.alerts, [(b"p3", _alert("a-late", "p3", 200.0))])
        clock[0] += 30
        ticks[0] += 30
        retrainer.catch_up(timeout_s=30)
        assert sample(registry, "dhag_labels_pending") == 1
        assert {r.alert_id: r.y for r in store.latest_labels()}["a-late"] == 1
        assert sample(registry, "dhag_labels_received_total", {"label": "anomaly"}) == 1

        # The wall clock is stepped a day ahead: the label has not waited any longer for that.
        clock[0] += 86_400
        ticks[0] += 1
        retrainer.catch_up(timeout_s=30)
        assert sample(registry, "dhag_labels_pending") == 1

        # The other one's alert never comes: dead-lettered when the window ends, never dropped.
        ticks[0] += 30
        retrainer.catch_up(timeout_s=30)
        dlq = read_topic(bootstrap, t.labels_dlq, count=3, timeout_s=20)
        late = [m for m in dlq if dict(m.headers)["dlq.reason"] == b"unknown_alert"]
        assert len(late) == 1 and orjson.loads(late[0].value)["alert_id"] == "a-never"
        assert b"a-never" in dict(late[0].headers)["dlq.detail"]
        assert sample(registry, "dhag_labels_dlq_total", {"reason": "unknown_alert"}) == 1
        assert sample(registry, "dhag_labels_pending") == 0 and store.pending_count() == 0
    finally:
        retrainer.close()

    # Offsets were committed with the store: a restart replays nothing and loses nothing.
    again = Retrainer(settings, store, RetrainMetrics(CollectorRegistry()), bootstrap_servers=bootstrap)
    again.open()
    try:
        committed = {tp: again._consumer.committed(tp) or 0 for tp in again._parts}
        assert sum(o for tp, o in committed.items() if tp.topic == t.labels) == 6
        assert sum(o for tp, o in committed.items() if tp.topic == t.alerts) == 2
        assert again._poll(again._consumer, again._producer) == 0
    finally:
        again.close()
    assert store.label_count() == 3


def _config(settings: Settings, tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    dumped = settings.model_dump(mode="json")
    path.write_text(yaml.safe_dump({"kafka": {"topics": dumped["kafka"]["topics"]}}))
    return str(path)


def test_alerts_and_label_commands_against_the_broker(
    tansu: EmbeddedBroker,
    tmp_path: Path,
    fitted: DHAG,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producers: list[KafkaProducer] = []

    def producer(**options: object) -> KafkaProducer:
        producers.append(KafkaProducer(**options))
        return producers[-1]

    monkeypatch.setattr("pipeline.alertscmd.KafkaProducer", producer)
    settings = _settings(tansu, tmp_path, fitted)
    t, bootstrap = settings.kafka.topics, tansu.bootstrap_servers
    produce(
        bootstrap,
        t.alerts,
        [
            (b"p1", _alert("a1", "p1", 1_795_947_300.0)),
            (b"p1", _alert("a1", "p1", 1_795_947_300.0, state="resolved", ts=1_795_947_400.0)),
            (b"p2", _alert("a2", "p2", 1_795_947_500.0, side="above")),
            (b"p3", _alert("a3", "p3", 1_795_947_000.0)),
            (
                b"p3",
                orjson.dumps(
                    orjson.loads(_alert("a3", "p3", 1_795_947_000.0, state="resolved"))
                    | {"resolved_by": "silence"}
                ),
            ),
        ],
    )
    config = ["--config", _config(settings, tmp_path), "--bootstrap", bootstrap]

    assert main(["alerts", *config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ALERT_ID", "ASSET", "STATE"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["a2", "p2", "open"],
        ["a1", "p1", "resolved"],
        ["a3", "p3", "resolved-by-silence"],  # its asset sent nothing: no sign of recovery
    ]
    assert "2026-11-29T10:15:00Z" in lines[2] and "flow_total" in lines[2]
    # A top sensor beyond the model's training range is marked, with the side.
    assert "flow_total (above history)" in lines[1] and "history" not in lines[2]
    assert main(["alerts", "--open", *config]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["a2"]
    assert main(["alerts", "--asset", "p1", "--open", *config]) == 0  # its episode resolved
    assert capsys.readouterr().out == "no alerts\n"
    assert main(["alerts", "--asset", "p9", *config]) == 2  # on no event of the topic: refused
    captured = capsys.readouterr()
    assert "no episode of the asset 'p9'" in captured.err and captured.out == ""

    assert main(["label", "nope", "--anomaly", "--operator", "kim", *config]) == 2
    captured = capsys.readouterr()
    assert "unknown alert 'nope'" in captured.err and captured.out == ""
    assert main(["label", "a1", "--anomaly", "--operator", "  ", *config]) == 2
    assert "operator" in capsys.readouterr().err
    assert (
        main(["label", "a1", "--anomaly", "--operator", "kim", "--config", _config(settings, tmp_path)]) == 2
    )
    assert "--bootstrap" in capsys.readouterr().err  # the default settings name the embedded broker

    assert main(["label", "a1", "--anomaly", "--operator", "kim", "--note", "bearing noise", *config]) == 0
    assert "labelled alert a1 (p1" in capsys.readouterr().out
    # Its producer is idempotent: the broker gave it a producer id (retries are not written twice).
    assert producers[-1].config["enable_idempotence"]
    assert producers[-1]._transaction_manager.producer_id_and_epoch.producer_id >= 0
    assert main(["label", "a1", "--normal", "--operator", "lee", *config]) == 0
    out = capsys.readouterr().out
    assert "was labelled anomaly by kim" in out and "replaces it" in out and "history" in out
    # lee runs it again (the first run reported a timeout, say): the same answer, counted once.
    assert main(["label", "a1", "--normal", "--operator", "lee", *config]) == 0
    out = capsys.readouterr().out
    assert "already labelled normal by lee" in out and "repeats it" in out

    assert main(["alerts", "--json", "--limit", "5", *config]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    a1 = next(r for r in rows if r["alert_id"] == "a1")
    assert a1["label"]["label"] == "normal" and a1["label"]["operator"] == "lee"
    assert [lab["label"] for lab in a1["labels"]] == ["anomaly", "normal"]
    assert a1["labels"][0]["note"] == "bearing noise"
    a2 = next(r for r in rows if r["alert_id"] == "a2")
    assert (a1["outside_training_range"], a2["outside_training_range"]) == ({}, {"flow_total": "above"})
    assert a2["top_sensors"] == ["flow_total"]
    labels = [orjson.loads(m.value) for m in read_topic(bootstrap, t.labels, count=3)]
    assert sorted(lab["label"] for lab in labels) == ["anomaly", "normal", "normal"]
    assert len({lab["label_id"] for lab in labels}) == 3  # each run stamps its own
    assert main(["alerts", "--limit", "0", *config]) == 2


@pytest.mark.parametrize("command", [["alerts"], ["label", "a-1", "--anomaly", "--operator", "kim"]])
def test_alerts_and_label_report_an_unreachable_broker_within_the_request_timeout(
    command: list[str], monkeypatch, capsys
) -> None:
    # kafka-python waited its own 30 s bootstrap timeout, whatever kafka.request_timeout_ms said: an
    # operator with a wrong address waited over half a minute for the answer.
    from pipeline.broker import free_port

    for name in [n for n in os.environ if n.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__REQUEST_TIMEOUT_MS", "2000")
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__FETCH_MAX_WAIT_MS", "100")
    started = time.monotonic()
    assert main([*command, "--bootstrap", f"127.0.0.1:{free_port()}"]) == 3
    took = time.monotonic() - started
    assert "cannot" in capsys.readouterr().err
    assert took < 5, f"{took:.1f} s"
