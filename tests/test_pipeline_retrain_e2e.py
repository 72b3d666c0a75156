"""``retrain --once`` end to end on the embedded broker: the daemon alerts, an operator labels, the
retrainer promotes a new model, and the running daemon hot-swaps to it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from pipeline_kafka import make_settings, produce, read_topic, reading, running_daemon, sample, wait_for
from plant_data import gross_outliers, normal

from dhag import DHAG
from pipeline import registry as reg
from pipeline.broker import EmbeddedBroker
from pipeline.cli import main
from pipeline.labelstore import LabelStore
from pipeline.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_retrain_once_promotes_a_model_that_the_daemon_then_serves(
    tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG
) -> None:
    bootstrap = tansu.bootstrap_servers
    registry = tmp_path / "registry"
    reg.publish(registry, fitted, "v1")
    uid = tmp_path.name[-10:].replace("_", "-").strip("-")
    settings = make_settings(
        bootstrap,
        registry,
        topics={"labels": f"labels-{uid}", "labels_dlq": f"labels-{uid}.dlq"},
        model={"registry": str(registry), "reload_check_s": 0.2},
        alerts={"open_after": 3, "window": 5, "resolve_after": 5, "quiet_s": 3600.0},
        metrics={"port": 0, "host": "127.0.0.1"},
        retrain={
            "metrics_port": 0,
            "device": "cpu",
            "max_epochs": 5,
            "time_budget_s": 20.0,
            "normal_sample_every": 1,
            "min_normal_rows": 100,
            "episode_margin_s": 0.0,
            "max_recall_drop": 1.0,
            "max_false_alarm_increase": 1.0,
            "max_far_increase": 1.0,
        },
    )
    t = settings.kafka.topics
    ensure_topics(bootstrap, {t.labels: 1, t.labels_dlq: 1}, create_missing=True, replication_factor=1)
    rng = np.random.default_rng(7)
    assets = ["pump-1", "pump-2", "fan-1", "fan-2"]
    start = time.time() - 5000.0
    items = []
    for k, asset in enumerate(assets):
        rows = np.vstack([normal(rng, 120), gross_outliers(rng, 6), normal(rng, 20)])
        items += [(asset.encode(), reading(asset, start + 1000 * k + i, row)) for i, row in enumerate(rows)]

    with running_daemon(settings, fitted, bootstrap, hot_swap=True) as (_daemon, metrics):
        produce(bootstrap, t.input, items)
        opened = []

        def alerts_opened() -> bool:
            events = [orjson.loads(m.value) for m in read_topic(bootstrap, t.alerts, count=0, timeout_s=2)]
            opened[:] = [e for e in events if e["state"] == "open"]
            return {e["asset_id"] for e in opened} == set(assets)

        wait_for(alerts_opened, 60, "an alert on every asset")
        by_asset = {e["asset_id"]: e for e in opened}
        now = time.time()
        labels = [
            {"alert_id": by_asset["pump-1"]["alert_id"], "label": "anomaly", "operator": "kim", "ts": now},
            {"alert_id": by_asset["pump-2"]["alert_id"], "label": "anomaly", "operator": "kim", "ts": now},
            {"alert_id": by_asset["fan-1"]["alert_id"], "label": "normal", "operator": "lee", "ts": now},
            # By reading: the record that opened fan-2's alert, so the label joins that alert.
            {
                "asset_id": "fan-2",
                "ts": by_asset["fan-2"]["opened_at"],
                "values": by_asset["fan-2"]["values"],
                "label": "anomaly",
                "operator": "lee",
                "labelled_at": now,
            },
        ]
        produce(bootstrap, t.labels, [(None, orjson.dumps(label)) for label in labels])

        config = tmp_path / "retrain.yaml"
        config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
        handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        try:
            assert main(["retrain", "--once", "--config", str(config)]) == 0
        finally:
            signal.signal(signal.SIGTERM, handlers[0])
            signal.signal(signal.SIGINT, handlers[1])

        version, _ = reg.current(registry)
        assert version != "v1"
        report = json.loads((registry / f"{version}.report.json").read_text())
        assert (
            report["decision"] == "promoted" and report["parent"] == "v1" and report["trigger"] == "on_demand"
        )
        assert report["label_counts"]["confirmed"] == 3 and report["label_counts"]["rejected"] == 1
        assert report["label_counts"]["normal_readings"] > 400
        info = reg.describe(registry, version)
        assert info.parent == "v1" and info.label_counts == report["label_counts"]
        store = LabelStore(registry / "labels.sqlite")
        joined = {r.alert_id for r in store.latest_labels()}
        assert joined == {by_asset[a]["alert_id"] for a in assets}

        # The daemon picks the promoted version up between batches.
        more = [(b"pump-1", reading("pump-1", start + 9000 + i, row)) for i, row in enumerate(normal(rng, 5))]
        produce(bootstrap, t.input, more)
        wait_for(lambda: sample(metrics, "dhag_model_info", {"version": version}) == 1, 30, "the hot swap")
        assert sample(metrics, "dhag_model_reloads_total", {"result": "ok"}) >= 1


def test_retrain_exit_codes_for_bad_settings_and_a_missing_model(
    tansu: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("retrain:\n  min_new_labels: -1\n")
    assert main(["retrain", "--once", "--config", str(bad)]) == 2
    assert "retrain.min_new_labels" in capsys.readouterr().err
    empty = tmp_path / "empty.yaml"
    uid = tmp_path.name[-10:].replace("_", "-").strip("-")
    empty.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": tansu.bootstrap_servers,
                    "topics": {"labels": f"labels-{uid}", "labels_dlq": f"labels-{uid}.dlq"},
                },
                "model": {"registry": str(tmp_path / "no-registry")},
                "metrics": {"enabled": False},
            }
        )
    )
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        assert main(["retrain", "--once", "--config", str(empty)]) == 4
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])


def test_a_second_retrainer_on_the_same_store_stops_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A CronJob's `--once` overlapping a `--watch`: two retrainers would train and promote over each
    # other. The second stops before it reaches the broker or the store.
    from pipeline.retrain.command import EXIT_BUSY, only_retrainer

    config = tmp_path / "config.yaml"
    config.write_text(
        f"model:\n  registry: {tmp_path / 'registry'}\nmetrics:\n  enabled: false\n"
        "kafka:\n  bootstrap_servers: k:9092\n"
    )
    store = tmp_path / "registry" / "labels.sqlite"
    with only_retrainer(store) as first:
        assert first
        assert main(["retrain", "--once", "--config", str(config)]) == EXIT_BUSY == 5
        assert "another retrainer holds the label store" in capsys.readouterr().err
        assert not store.exists()
    with only_retrainer(store) as again:
        assert again  # released with the holder


def test_a_store_lock_planted_as_a_symbolic_link_stops_the_retrainer_creating_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: opened for appending through the link, it created the file it named, wherever that was.
    from pipeline.retrain.command import EXIT_STORE

    config = tmp_path / "config.yaml"
    config.write_text(
        f"model:\n  registry: {tmp_path / 'registry'}\nmetrics:\n  enabled: false\n"
        "kafka:\n  bootstrap_servers: k:9092\n"
    )
    (tmp_path / "registry").mkdir()
    victim = tmp_path / "elsewhere" / "created-by-the-retrainer"
    victim.parent.mkdir()
    (tmp_path / "registry" / "labels.sqlite.lock").symlink_to(victim)
    assert main(["retrain", "--once", "--config", str(config)]) == EXIT_STORE
    assert "labels.sqlite.lock" in capsys.readouterr().err
    assert not victim.exists()
