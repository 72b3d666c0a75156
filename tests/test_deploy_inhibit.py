"""deploy/alertmanager's inhibit rules, run by a real Alertmanager: alerts with the labels the rules in
deploy/prometheus/rules give them are posted to it, and its API says which ones it suppresses."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import DEPLOY

from pipeline.broker import free_port

ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
# The labels of each source alert as its rule produces them: DhagPipelineAbsent from absent(), no
# target of the job at all, keeps none of the selector's.
PIPELINE_ABSENT = {"alertname": "DhagPipelineAbsent", "severity": "critical"}


def _pipeline(alertname: str, severity: str, **labels: str) -> dict[str, str]:
    return {"alertname": alertname, "severity": severity, "job": "dhag-pipeline"} | labels


def _silent(asset: str, **labels: str) -> dict[str, str]:
    return {
        "alertname": "DhagAssetSilent",
        "severity": "warning",
        "job": "dhag-pipeline",
        "asset": asset,
        "asset_group": asset.split("-")[0],
    } | labels


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.skip("alertmanager is not installed (Debian: apt-get install prometheus-alertmanager)")
    port = free_port()
    cmd = [binary, f"--config.file={ALERTMANAGER}", f"--storage.path={tmp_path}"]
    cmd += [f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api/v2"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{api}/status", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "alertmanager did not start"
                time.sleep(0.1)
        yield api
    finally:
        proc.terminate()
        proc.wait(10)


def _suppressed(api: str, alerts: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    """Post ``alerts`` (firing) and return ``(alertname, asset or instance, namespace)`` of those
    inhibited."""
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(f"{api}/alerts", data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()
    deadline = time.monotonic() + 10
    while True:  # the API lists an alert once it is stored; inhibition is decided when it is listed
        with urllib.request.urlopen(f"{api}/alerts", timeout=5) as resp:
            listed = json.load(resp)
        if len(listed) == len(alerts) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return {
        (
            a["labels"]["alertname"],
            a["labels"].get("asset") or a["labels"].get("instance", ""),
            a["labels"].get("namespace", ""),
        )
        for a in listed
        if a["status"]["inhibitedBy"]
    }


def test_no_daemon_at_all_inhibits_every_asset_silence(alertmanager: str) -> None:
    # DhagPipelineAbsent's absent() carries neither job nor namespace: an inhibit rule asking for equal
    # job and namespace never matched it, and every asset of the plant was reported silent.
    alerts = [PIPELINE_ABSENT, _silent("pump-01"), _silent("fan-02", namespace="plant-b")]
    suppressed = _suppressed(alertmanager, alerts)
    assert suppressed == {("DhagAssetSilent", "pump-01", ""), ("DhagAssetSilent", "fan-02", "plant-b")}


def test_a_daemon_that_cannot_be_scraped_or_is_stuck_inhibits_asset_silence_of_its_plant(
    alertmanager: str,
) -> None:
    # A hung daemon keeps its partitions (it still heartbeats) and exports nothing; a stuck one forgets
    # its assets' series after alerts.quiet_s: their assets look silent, and the daemon is the cause.
    alerts = [
        _pipeline("DhagDaemonDown", "critical", instance="a1:9108"),
        _pipeline("DhagProcessingStalled", "critical", instance="b1:9108", namespace="plant-b"),
        _silent("pump-01"),
        _silent("fan-02", namespace="plant-b"),
        _silent("pump-03", namespace="plant-c"),
    ]
    suppressed = _suppressed(alertmanager, alerts)
    assert suppressed == {("DhagAssetSilent", "pump-01", ""), ("DhagAssetSilent", "fan-02", "plant-b")}


def test_a_plant_wide_cause_inhibits_asset_silence_in_its_own_plant_only(alertmanager: str) -> None:
    alerts = [
        _pipeline("DhagNoReadings", "warning", namespace="plant-a"),
        _silent("pump-01", namespace="plant-a"),
        _silent("pump-01", namespace="plant-b"),
    ]
    assert _suppressed(alertmanager, alerts) == {("DhagAssetSilent", "pump-01", "plant-a")}


def test_a_daemon_whose_output_is_refused_inhibits_its_plants_asset_silence_and_kafka_down_its_page(
    alertmanager: str,
) -> None:
    # Refused output stands the daemon's input partitions still, so their assets look silent; with
    # Kafka unreachable from that daemon every delivery is refused, and DhagKafkaUnreachable says it.
    alerts = [
        _pipeline("DhagOutputRefused", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagKafkaUnreachable", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagOutputRefused", "critical", instance="b1:9108", namespace="plant-b"),
        _silent("pump-01", namespace="plant-a"),
        _silent("pump-02", namespace="plant-c"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagOutputRefused", "a1:9108", "plant-a"),
        ("DhagAssetSilent", "pump-01", "plant-a"),
    }


def test_one_plant_without_daemons_inhibits_its_own_alerts_only(alertmanager: str) -> None:
    # With a plant per namespace, DhagPipelineAbsent names the plant whose daemons are all gone (its
    # namespace and job). Before, it carried neither and inhibited every plant's daemon alerts.
    alerts = [
        _pipeline("DhagPipelineAbsent", "critical", namespace="plant-a"),
        _pipeline("DhagDaemonMissing", "warning", instance="10.0.0.2:9108", namespace="plant-a"),
        _pipeline("DhagDaemonReplicasMissing", "warning", namespace="plant-a"),
        _pipeline("DhagDaemonDown", "critical", instance="10.0.1.1:9108", namespace="plant-b"),
        _pipeline("DhagDaemonReplicasMissing", "warning", namespace="plant-b"),
        _pipeline("DhagConsumerLagHigh", "warning", topic="readings", namespace="plant-b"),
        _silent("pump-01", namespace="plant-a"),
        _silent("pump-01", namespace="plant-b"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagDaemonMissing", "10.0.0.2:9108", "plant-a"),
        ("DhagDaemonReplicasMissing", "", "plant-a"),
        ("DhagAssetSilent", "pump-01", "plant-a"),
        ("DhagAssetSilent", "pump-01", "plant-b"),  # by plant-b's own DhagDaemonDown
    }


def test_a_single_deployment_without_daemons_inhibits_its_daemon_alerts_and_asset_silence(
    alertmanager: str,
) -> None:
    # Compose: no namespace on any alert; the deployment's DhagPipelineAbsent carries its job.
    alerts = [
        _pipeline("DhagPipelineAbsent", "critical"),
        _pipeline("DhagDaemonMissing", "warning", instance="172.18.0.6:9108"),
        _pipeline("DhagProcessingStalled", "critical", instance="172.18.0.5:9108"),
        _silent("fan-02"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagDaemonMissing", "172.18.0.6:9108", ""),
        ("DhagProcessingStalled", "172.18.0.5:9108", ""),
        ("DhagAssetSilent", "fan-02", ""),
    }
