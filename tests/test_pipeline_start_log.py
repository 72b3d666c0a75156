"""The daemon's start-up line names the sensors a record must carry: a plant model reads the raw sensors
and scores features derived from them, and the line says both; a start stopped by a metrics port taken
names the keys to change, and a watching retrainer with every trigger off says so."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
import yaml

from pipeline import cli, registry
from pipeline.features import INPUT_SENSORS


def _start(root: Path, monkeypatch) -> int:
    """``run`` on the registry ``root``, stopped before any broker by a metrics port already taken."""
    for name in [n for n in os.environ if n.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(name)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = {"model": {"registry": str(root)}, "metrics": {"port": taken.getsockname()[1]}}
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump(settings))
        return cli.main(["run", "--config", str(config)])


def test_a_plant_models_start_line_counts_its_raw_sensors_and_the_features_derived(
    plant_model, tmp_path: Path, capfd, monkeypatch
) -> None:
    # Before: "model v1 loaded (12 sensors, ...)" for a model whose records carry 10 sensors.
    registry.publish(tmp_path, plant_model, "v1")
    assert _start(tmp_path, monkeypatch) == cli.EXIT_CONFIG
    sensors, features = len(INPUT_SENSORS), len(plant_model.feature_names_in_)
    assert sensors != features
    line = f"model v1 loaded ({sensors} sensors, {features} features derived from them, threshold "
    assert line in capfd.readouterr().err


def test_a_model_on_raw_sensors_names_only_their_count(fitted, tmp_path: Path, capfd, monkeypatch) -> None:
    registry.publish(tmp_path, fitted, "v1")
    assert _start(tmp_path, monkeypatch) == cli.EXIT_CONFIG
    sensors = len(fitted.feature_names_in_)
    assert re.search(rf"model v1 loaded \({sensors} sensors, threshold \d\.\d{{4}}\)", capfd.readouterr().err)


def test_a_metrics_port_taken_names_the_keys_to_change(fitted, tmp_path: Path, capfd, monkeypatch) -> None:
    # Before: "cannot serve metrics on 127.0.0.1:9108: [Errno 98] Address already in use", exit 2 for
    # bad configuration with no word of which setting: the retrainer listens on retrain.metrics_port.
    registry.publish(tmp_path, fitted, "v1")
    assert _start(tmp_path, monkeypatch) == cli.EXIT_CONFIG
    assert re.search(
        r"cannot serve metrics on 127\.0\.0\.1:\d+ \(metrics\.host, metrics\.port; line \d+ of '[^']+'\): ",
        capfd.readouterr().err,
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = tmp_path / "retrain.yaml"
        settings = {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path)},
            "retrain": {"metrics_port": taken.getsockname()[1]},
        }
        config.write_text(yaml.safe_dump(settings))
        assert cli.main(["retrain", "--once", "--config", str(config)]) == cli.EXIT_CONFIG
    said = r"cannot serve metrics on 127\.0\.0\.1:\d+ \(metrics\.host, retrain\.metrics_port; "
    said += r"line 6 of '[^']+'\): "
    assert re.search(said, capfd.readouterr().err)


@pytest.mark.parametrize(
    ("retrain", "drift", "warned"),
    [
        ({"min_new_labels": 0, "interval_s": 0, "on_drift": False}, True, True),
        ({"min_new_labels": 0, "interval_s": 0}, False, True),  # on_drift needs drift.enabled
        ({"min_new_labels": 0, "interval_s": 0}, True, False),
        ({"interval_s": 0, "on_drift": False}, True, False),
    ],
)
def test_a_watching_retrainer_with_every_trigger_off_says_it_will_never_train(
    tmp_path: Path, capfd, monkeypatch, retrain: dict, drift: bool, warned: bool
) -> None:
    # Before: `retrain --watch` with no trigger on took labels in for ever and never trained, saying
    # nothing of it.
    for name in [n for n in os.environ if n.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(name)
    with socket.socket() as taken:  # stops it before any broker
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        retrain = retrain | {"metrics_port": taken.getsockname()[1]}
        settings = {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path)},
            "retrain": retrain,
            "drift": {"enabled": drift},
        }
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(settings))
        assert cli.main(["retrain", "--watch", "--config", str(config)]) == cli.EXIT_CONFIG
    said = "no retraining trigger is on (retrain.min_new_labels 0, retrain.interval_s 0, retrain.on_drift"
    assert (said in capfd.readouterr().err) == warned
