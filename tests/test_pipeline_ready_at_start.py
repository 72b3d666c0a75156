"""What /ready says while a service waits for Kafka before its loop starts (its topics looked at)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pipeline_kafka import wait_for

from pipeline.broker import free_port
from pipeline.config import Settings


def _ready(port: int) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return None  # not served yet


@pytest.mark.parametrize("command", ["run", "retrain"])
def test_ready_names_kafka_while_a_service_cannot_reach_it_at_start(
    command: str, model_registry: Path, tmp_path: Path, caplog
) -> None:
    # Before: /ready answered "starting" for as long as the brokers could not be reached at start-up
    # (kafka.unavailable_exit_s, two minutes by default), while the daemon's own check says "kafka".
    from pipeline.retrain.command import _run_retrain
    from pipeline.runservice import _run_service

    caplog.set_level("INFO")
    port, dead = free_port(), free_port()  # nothing listens on `dead`
    settings = Settings.model_validate(
        {
            "kafka": {
                "bootstrap_servers": f"127.0.0.1:{dead}",
                "unavailable_exit_s": 12.0,
                "backoff_initial_s": 0.2,
                "backoff_max_s": 0.5,
            },
            "model": {"registry": str(model_registry)},
            "metrics": {"port": port},
            "retrain": {"metrics_port": port, "label_store": str(tmp_path / "labels.sqlite")},
        }
    )
    codes: list[int] = []
    run = (
        (lambda: _run_service(settings)) if command == "run" else (lambda: _run_retrain(settings, once=False))
    )
    thread = threading.Thread(target=lambda: codes.append(run()), daemon=True)
    thread.start()
    wait_for(lambda: _ready(port) is not None, 30, "the endpoint")
    # (read until it says so: the service looks at the model registry before Kafka)
    wait_for(lambda: _ready(port)[1].startswith("kafka: connecting for "), 5, "/ready to name Kafka")  # type: ignore[index]
    status, body = _ready(port)  # type: ignore[misc]
    assert status == 503 and body.startswith("kafka: connecting for "), body
    assert f"127.0.0.1:{dead}" not in body  # the address goes to the log alone
    thread.join(30)
    assert codes == [3]
    assert f"/ready answers 503: kafka: connecting for 0 s (the brokers at 127.0.0.1:{dead})" in caplog.text
