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
# The labels of each source alert as its rule produces them: DhagPipelineAbsent with no target of the
# job at all in a day (absent_over_time) keeps the selector's job, and no namespace.
PIPELINE_ABSENT = {"alertname": "DhagPipelineAbsent", "severity": "critical", "job": "dhag-pipeline"}
# Posted after the alerts under test: Alertmanager's inhibitor learns of source alerts in the order
# they were posted, after the API has stored them. Once this pair's target shows inhibited, every
# source posted before it has been seen, and what the API says of the others is final.
SENTINEL = [
    {
        "alertname": "DhagRetrainingStale",
        "severity": "warning",
        "job": "dhag-retrainer",
        "namespace": "sentinel",
    },
    {
        "alertname": "DhagRetrainerDown",
        "severity": "warning",
        "job": "dhag-retrainer",
        "namespace": "sentinel",
    },
]


PJ = "dhag-pipeline"  # the scoring daemons' job


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


def _post(api: str, alerts: list[dict[str, str]]) -> list[dict]:
    """Post ``alerts`` (firing), then the sentinel pair; the alerts as the API lists them once the
    inhibitor has seen every one of them (the sentinel left out)."""
    body = json.dumps([{"labels": labels} for labels in [*alerts, *SENTINEL]]).encode()
    request = urllib.request.Request(f"{api}/alerts", data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"{api}/alerts", timeout=5) as resp:
            listed = json.load(resp)
        sentinel = [a for a in listed if a["labels"].get("namespace") == "sentinel"]
        settled = any(
            a["labels"]["alertname"] == SENTINEL[0]["alertname"] and a["status"]["inhibitedBy"]
            for a in sentinel
        )
        if len(listed) == len(alerts) + len(SENTINEL) and settled:
            return [a for a in listed if a not in sentinel]
        assert time.monotonic() < deadline, f"alertmanager did not take in the alerts: {listed}"
        time.sleep(0.1)


def _suppressed(api: str, alerts: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    """Post ``alerts`` (firing) and return ``(alertname, asset or instance, namespace)`` of those
    inhibited."""
    return {
        (
            a["labels"]["alertname"],
            a["labels"].get("asset") or a["labels"].get("instance", ""),
            a["labels"].get("namespace", ""),
        )
        for a in _post(api, alerts)
        if a["status"]["inhibitedBy"]
    }


def test_no_daemon_at_all_inhibits_every_asset_silence(alertmanager: str) -> None:
    # With no daemon target at all in a day, DhagPipelineAbsent carries the job and no namespace: every
    # asset, of every namespace, looks silent for that reason.
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
    # Output an ACL refuses (plant-d) is DhagKafkaAccessRefused's page alone, and holds back the same.
    alerts = [
        _pipeline("DhagOutputRefused", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagKafkaUnreachable", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagOutputRefused", "critical", instance="b1:9108", namespace="plant-b"),
        _pipeline("DhagKafkaAccessRefused", "critical", instance="d1:9108", namespace="plant-d", kind="x"),
        _silent("pump-01", namespace="plant-a"),
        _silent("pump-02", namespace="plant-c"),
        _silent("pump-04", namespace="plant-d"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagOutputRefused", "a1:9108", "plant-a"),
        ("DhagAssetSilent", "pump-01", "plant-a"),
        ("DhagAssetSilent", "pump-04", "plant-d"),
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


def test_a_retrainer_down_inhibits_its_own_plants_retraining_stale_only(alertmanager: str) -> None:
    # DhagRetrainerDown names the plant whose retrainer is gone; before, it carried no namespace and
    # its inhibition ignored the namespace: another plant's stale retraining went unreported.
    def retrain(alertname: str, namespace: str) -> dict[str, str]:
        labels = {"alertname": alertname, "severity": "warning", "job": "dhag-retrainer"}
        return labels | {"namespace": namespace}

    alerts = [
        retrain("DhagRetrainerDown", "plant-a"),
        retrain("DhagRetrainingStale", "plant-a"),
        retrain("DhagRetrainingStale", "plant-b"),
    ]
    assert _suppressed(alertmanager, alerts) == {("DhagRetrainingStale", "", "plant-a")}


def _groups(api: str, alerts: list[dict[str, str]], label: str) -> list[list[tuple[str, str, str, str]]]:
    """Post ``alerts`` (firing) and return Alertmanager's notification groups of them, each as its
    sorted ``(alertname, namespace, job, <label>)``, sorted (the sentinel's group left out)."""
    _post(api, alerts)
    deadline = time.monotonic() + 10
    while True:  # grouped as they arrive, in order: once the sentinel is, so is everything before it
        with urllib.request.urlopen(f"{api}/alerts/groups", timeout=5) as resp:
            groups = json.load(resp)
        if any(a["labels"].get("namespace") == "sentinel" for g in groups for a in g["alerts"]):
            break
        assert time.monotonic() < deadline, f"alertmanager did not group the alerts: {groups}"
        time.sleep(0.1)
    keys = ("alertname", "namespace", "job", label)
    return sorted(
        sorted(tuple(a["labels"].get(key, "") for key in keys) for a in g["alerts"])
        for g in groups
        if all(a["labels"].get("namespace") != "sentinel" for a in g["alerts"])
    )


def test_each_plant_pages_in_a_notification_group_of_its_own(alertmanager: str) -> None:
    # One plant's outage and another's are separate pages (each resolves on its own, and the second
    # is not held back for the first group's interval); so are each plant's silent assets.
    alerts = [
        _pipeline("DhagPipelineAbsent", "critical", namespace="plant-a"),
        _pipeline("DhagPipelineAbsent", "critical", namespace="plant-b"),
        _silent("pump-01", namespace="plant-c"),
        _silent("pump-02", namespace="plant-c"),
        _silent("pump-01", namespace="plant-d"),
    ]
    assert _groups(alertmanager, alerts, "asset") == [
        [("DhagAssetSilent", "plant-c", PJ, "pump-01"), ("DhagAssetSilent", "plant-c", PJ, "pump-02")],
        [("DhagAssetSilent", "plant-d", PJ, "pump-01")],
        [("DhagPipelineAbsent", "plant-a", PJ, "")],
        [("DhagPipelineAbsent", "plant-b", PJ, "")],
    ]


def _anomalous(asset: str, **labels: str) -> dict[str, str]:
    return {
        "alertname": "DhagAssetAnomalous",
        "severity": "critical",
        "job": "dhag-pipeline",
        "asset": asset,
        "asset_group": asset.split("-")[0],
    } | labels


def _many(**labels: str) -> dict[str, str]:
    return _pipeline("DhagManyAssetsAnomalous", "critical", **labels)


def test_many_assets_anomalous_in_a_plant_holds_back_that_plants_asset_pages_only(alertmanager: str) -> None:
    # One page for a plant-wide event: the plant's alert holds back each asset's, and its groups' alerts.
    alerts = [
        _many(namespace="plant-a"),
        _many(namespace="plant-a", asset_group="pump"),
        _anomalous("pump-01", namespace="plant-a"),
        _anomalous("fan-02", namespace="plant-a"),
        _anomalous("pump-01", namespace="plant-b"),
        _silent("pump-03", namespace="plant-a"),
    ]
    suppressed = {
        (
            a["labels"]["alertname"],
            a["labels"].get("asset", ""),
            a["labels"].get("asset_group", ""),
            a["labels"]["namespace"],
        )
        for a in _post(alertmanager, alerts)
        if a["status"]["inhibitedBy"]
    }
    assert suppressed == {
        ("DhagManyAssetsAnomalous", "", "pump", "plant-a"),
        ("DhagAssetAnomalous", "pump-01", "pump", "plant-a"),
        ("DhagAssetAnomalous", "fan-02", "fan", "plant-a"),
    }


def test_many_assets_anomalous_in_a_group_holds_back_that_groups_asset_pages_only(alertmanager: str) -> None:
    # Compose: no namespace. The compressors' alert leaves the pumps' own pages, and the plant's.
    alerts = [
        _many(asset_group="compressor"),
        _anomalous("compressor-01"),
        _anomalous("compressor-02"),
        _anomalous("pump-01"),
        _anomalous("compressor-01", job="dhag-pipeline-b"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagAssetAnomalous", "compressor-01", ""),
        ("DhagAssetAnomalous", "compressor-02", ""),
    }


def test_each_asset_group_and_each_plant_pages_in_a_notification_group_of_its_own(alertmanager: str) -> None:
    # Two groups' common causes go to the same owners (pumps and compressors): each is a page of its
    # own, not the second held back for the first's group_interval and sent as an update of it; so is
    # the same asset id in two plants that share a Prometheus without namespaces (compose: a job each).
    alerts = [
        _many(namespace="plant-a", asset_group="pump"),
        _many(namespace="plant-a", asset_group="compressor"),
        _anomalous("compressor-01"),
        _anomalous("compressor-01", job="dhag-pipeline-b"),
    ]
    many, one = "DhagManyAssetsAnomalous", "DhagAssetAnomalous"
    assert _groups(alertmanager, alerts, "asset_group") == [
        [(one, "", PJ, "compressor")],
        [(one, "", "dhag-pipeline-b", "compressor")],
        [(many, "plant-a", PJ, "compressor")],
        [(many, "plant-a", PJ, "pump")],
    ]


def test_a_daemon_kafka_refuses_or_cannot_reach_pages_for_that_not_for_its_stall(alertmanager: str) -> None:
    # With kafka.unavailable_exit_s over the stall's seven minutes, or output refused, the daemon's stall
    # is the broker's doing: the page that names the cause holds back the one that does not, for that
    # daemon only (the same instance address in another plant, or another daemon, still pages).
    alerts = [
        _pipeline("DhagKafkaUnreachable", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagProcessingStalled", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagKafkaAccessRefused", "critical", instance="a2:9108", namespace="plant-a", kind="x"),
        _pipeline("DhagProcessingStalled", "critical", instance="a2:9108", namespace="plant-a"),
        _pipeline("DhagOutputRefused", "critical", instance="a3:9108", namespace="plant-a"),
        _pipeline("DhagProcessingStalled", "critical", instance="a3:9108", namespace="plant-a"),
        _pipeline("DhagProcessingStalled", "critical", instance="a4:9108", namespace="plant-a"),
        _pipeline("DhagProcessingStalled", "critical", instance="a1:9108", namespace="plant-b"),
        _pipeline("DhagDaemonDown", "critical", instance="a5:9108", namespace="plant-b"),
        _pipeline("DhagProcessingStalled", "critical", instance="a5:9108", namespace="plant-c"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagProcessingStalled", "a1:9108", "plant-a"),
        ("DhagProcessingStalled", "a2:9108", "plant-a"),
        ("DhagProcessingStalled", "a3:9108", "plant-a"),
    }


def test_a_daemon_that_cannot_reach_kafka_pages_for_that_not_for_being_down(alertmanager: str) -> None:
    # Through a Kafka outage the daemon exits 3 and restarts with a growing back-off: it is down now and
    # then, and DhagKafkaUnreachable, which holds through the restarts, names the cause. Only that
    # daemon's (its plant, job and address) is held back; another plant's daemon at the same address,
    # and another daemon of the same plant, still page.
    alerts = [
        _pipeline("DhagKafkaUnreachable", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagDaemonDown", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagDaemonDown", "critical", instance="a2:9108", namespace="plant-a"),
        _pipeline("DhagDaemonDown", "critical", instance="a1:9108", namespace="plant-b"),
        _pipeline("DhagKafkaUnreachable", "critical", instance="172.18.0.5:9108"),
        _pipeline("DhagDaemonDown", "critical", instance="172.18.0.5:9108"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagDaemonDown", "a1:9108", "plant-a"),
        ("DhagDaemonDown", "172.18.0.5:9108", ""),
    }


def test_an_asset_clock_a_week_behind_holds_back_its_plants_misdated_readings_only(alertmanager: str) -> None:
    # DhagReadingsMisdated counts what an asset's DhagAssetClockSkewed with readings="misdated" names:
    # one notification, the one that names the asset. An asset an hour off (no such label) explains no
    # misdated reading, so another plant's count and another job's still warn.
    def skewed(asset: str, **labels: str) -> dict[str, str]:
        return _silent(asset, alertname="DhagAssetClockSkewed") | labels

    alerts = [
        skewed("pump-07", namespace="plant-a", readings="misdated"),
        _pipeline("DhagReadingsMisdated", "warning", namespace="plant-a"),
        _pipeline("DhagReadingsMisdated", "warning", namespace="plant-b"),
        skewed("fan-02", namespace="plant-c"),
        _pipeline("DhagReadingsMisdated", "warning", namespace="plant-c"),
        skewed("pump-07", job="dhag-pipeline-b", readings="misdated"),
        _pipeline("DhagReadingsMisdated", "warning"),
    ]
    assert _suppressed(alertmanager, alerts) == {("DhagReadingsMisdated", "", "plant-a")}
