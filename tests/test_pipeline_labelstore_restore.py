"""A label store lost or restored from a backup, on the real embedded broker: the retrainer reads again
what the store lacks and the topics still hold, rather than resume from the group's offsets and lose
the operators' labels in between."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import orjson
import pytest
from labels_support import open_alert
from pipeline_kafka import make_settings, produce
from prometheus_client import CollectorRegistry

from dhag import DHAG
from pipeline.broker import EmbeddedBroker
from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.registry import publish
from pipeline.retrain.service import Retrainer
from pipeline.topics import ensure_topics

pytestmark = pytest.mark.integration


def _settings(tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG) -> Settings:
    registry = tmp_path / "registry"
    publish(registry, fitted, "v1")
    uid = tmp_path.name[-12:].replace("_", "-").strip("-")
    settings = make_settings(
        tansu.bootstrap_servers,
        registry,
        topics={"labels": f"labels-{uid}", "labels_dlq": f"labels-{uid}.dlq"},
        retrain={"group_id": f"retrainer-{uid}"},
    )
    t = settings.kafka.topics
    ensure_topics(
        tansu.bootstrap_servers, {t.labels: 2, t.labels_dlq: 1}, create_missing=True, replication_factor=1
    )
    return settings


def _alert(alert_id: str, opened_at: float) -> bytes:
    return orjson.dumps({"schema": 1} | open_alert(alert_id, opened_at, {"flow_a": 1.0}))


def _label(alert_id: str) -> bytes:
    return orjson.dumps({"alert_id": alert_id, "operator": "kim", "ts": 1_790_000_000.0, "label": "anomaly"})


def _catch_up(settings: Settings, store: LabelStore) -> Retrainer:
    retrainer = Retrainer(
        settings,
        store,
        RetrainMetrics(CollectorRegistry()),
        bootstrap_servers=settings.kafka.bootstrap_servers,
    )
    retrainer.open()
    try:
        retrainer.catch_up(timeout_s=30)
    finally:
        retrainer.close()
    return retrainer


def _labelled(store: LabelStore) -> list[str]:
    return sorted(r.alert_id for r in store.latest_labels())


def test_a_store_restored_from_an_old_backup_reads_again_the_labels_given_since(
    tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tansu, tmp_path, fitted)
    t, bootstrap = settings.kafka.topics, tansu.bootstrap_servers
    path = tmp_path / "labels.sqlite"
    store = LabelStore(path)
    produce(bootstrap, t.alerts, [(b"p1", _alert("a1", 100.0))])
    produce(bootstrap, t.labels, [(b"a1", _label("a1"))])
    _catch_up(settings, store)
    store.close()
    backup = tmp_path / "backup.sqlite"
    shutil.copy(path, backup)  # the nightly backup (the store closed: no WAL beside it)

    store = LabelStore(path)
    produce(bootstrap, t.alerts, [(b"p1", _alert("a2", 200.0)), (b"p1", _alert("a3", 300.0))])
    produce(bootstrap, t.labels, [(b"a2", _label("a2")), (b"a3", _label("a3"))])
    _catch_up(settings, store)
    assert _labelled(store) == ["a1", "a2", "a3"]
    store.close()

    # The volume is lost; the store comes back from the backup, the group's offsets are past a2, a3.
    path.unlink()
    shutil.copy(backup, path)
    store = LabelStore(path)
    with caplog.at_level(logging.WARNING):
        _catch_up(settings, store)
    # Before: ['a1'], the labels of a2 and a3 lost without a word.
    assert _labelled(store) == ["a1", "a2", "a3"]
    assert store.label_count() == 3  # read again, once each
    assert f"the label store {path} has read {t.labels}/" in caplog.text


def test_a_new_store_in_place_of_a_lost_one_reads_the_labels_the_topics_retain(
    tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tansu, tmp_path, fitted)
    t, bootstrap = settings.kafka.topics, tansu.bootstrap_servers
    path = tmp_path / "labels.sqlite"
    store = LabelStore(path)
    produce(bootstrap, t.alerts, [(b"p1", _alert("a1", 100.0)), (b"p1", _alert("a2", 200.0))])
    produce(bootstrap, t.labels, [(b"a1", _label("a1")), (b"a2", _label("a2"))])
    _catch_up(settings, store)
    assert _labelled(store) == ["a1", "a2"]
    store.close()

    path.unlink()  # deleted by hand, or a volume replaced by an empty one
    store = LabelStore(path)
    with caplog.at_level(logging.WARNING):
        _catch_up(settings, store)
    # Before: [], and every later run trained without the operators' labels.
    assert _labelled(store) == ["a1", "a2"]
    assert f"the label store {path} has not read {t.labels}/" in caplog.text


def test_a_store_kept_resumes_where_it_was_and_says_nothing(
    tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tansu, tmp_path, fitted)
    t, bootstrap = settings.kafka.topics, tansu.bootstrap_servers
    store = LabelStore(tmp_path / "labels.sqlite")
    produce(bootstrap, t.alerts, [(b"p1", _alert("a1", 100.0))])
    produce(bootstrap, t.labels, [(b"a1", _label("a1"))])
    _catch_up(settings, store)
    with caplog.at_level(logging.WARNING):
        again = _catch_up(settings, store)
    assert again._read == 0 and _labelled(store) == ["a1"]
    assert "the label store" not in caplog.text
