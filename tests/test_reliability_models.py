"""Bad models: corrupt, truncated, other-sensor and wrong-format artifacts, promoted while running or
the only one there at start-up.

A running daemon must refuse each one (counted in ``dhag_model_reloads_total{result="failed"}``) and go
on scoring every record with the model it has; a daemon that starts with only a bad artifact must exit
with code 4 and a message naming the version and the fault.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest
from pipeline_kafka import (
    make_settings,
    normal_rows,
    produce,
    read_topic,
    reading,
    running_daemon,
    sample,
    wait_for,
)

from pipeline import registry
from pipeline.errors import ModelUnavailableError

pytestmark = pytest.mark.integration


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _future_format(path: Path) -> None:
    """Rewrite the safetensors header so the artifact claims a format this build does not read."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"]["dhag_format"] = "999"
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + size :])


BREAK: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupt": (_corrupt, ""),
    "truncated": (_truncate, "truncated or not a safetensors file"),
    "wrong_format": (_future_format, "format version 999"),
}


def _bad_version(root: Path, fitted, version: str, kind: str) -> None:
    registry.publish(root, fitted, version, make_current=False)
    BREAK[kind][0](root / f"{version}.dhag")


def test_bad_artifacts_promoted_while_running_are_refused_and_the_old_model_keeps_serving(
    tansu, fitted, quick_model, train_rows, tmp_path
) -> None:
    bs = tansu.bootstrap_servers
    registry.publish(tmp_path, fitted, "v1")
    settings = make_settings(
        bs,
        tmp_path,
        scores=True,
        kafka={"batch_size": 50},
        model={"registry": str(tmp_path), "reload_check_s": 0.2},
    )
    topics = settings.kafka.topics
    rng = np.random.default_rng(9)
    # Trained on other sensor names: a valid artifact that cannot replace the model in use.
    other = quick_model(feature_names=["a", "b", "c", "d"]).fit(np.asarray(train_rows))
    registry.publish(tmp_path, other, "v-other", make_current=False)
    for kind in BREAK:
        _bad_version(tmp_path, fitted, f"v-{kind}", kind)
        with pytest.raises(ModelUnavailableError):
            registry.promote(tmp_path, f"v-{kind}")  # the registry command refuses it outright
    assert (tmp_path / "current").read_text().strip() == "v1"

    positions: list[tuple[int, int]] = []
    with running_daemon(settings, fitted, bs, hot_swap=True) as (_daemon, prom):
        for n, version in enumerate(["v-other", *(f"v-{kind}" for kind in BREAK)], start=1):
            # Put in place by hand (a copied pointer file), past the registry command's own check.
            (tmp_path / "current").write_text(version + "\n")
            wait_for(
                lambda n=n: sample(prom, "dhag_model_reloads_total", {"result": "failed"}) == n,
                15,
                f"the refusal of {version}",
            )
            items = [
                (b"m", reading("m-1", 1_790_000_000 + 100 * n + i, row))
                for i, row in enumerate(normal_rows(rng, 40))
            ]
            positions += produce(bs, topics.input, items)
        scores = read_topic(bs, topics.scores, count=len(positions), timeout_s=30)
        assert sample(prom, "dhag_model_info", {"version": "v1"}) == 1
        assert sample(prom, "dhag_model_reloads_total", {"result": "ok"}) == 0
    events = [orjson.loads(m.value) for m in scores]
    assert {(e["partition"], e["offset"]) for e in events} == set(positions)
    assert {e["model_version"] for e in events} == {"v1"}


@pytest.mark.parametrize("kind", sorted(BREAK))
def test_a_daemon_started_with_only_a_bad_artifact_exits_4_naming_the_fault(
    fitted, tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "registry"
    registry.publish(root, fitted, "v1")
    BREAK[kind][0](root / "v1.dhag")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"DHAG_PIPELINE_MODEL__REGISTRY": str(root), "DHAG_PIPELINE_METRICS__ENABLED": "false"}
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 4, out.stderr[-2000:]
    assert "Cannot load model version 'v1'" in out.stderr and BREAK[kind][1] in out.stderr
    assert "connected to Kafka" not in out.stderr, "it must stop before touching Kafka"
