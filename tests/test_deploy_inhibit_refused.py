"""deploy/alertmanager's inhibit rules for a daemon that Kafka refuses (an ACL revoked, credentials
rotated), run by a real Alertmanager as in test_deploy_inhibit.py."""

from __future__ import annotations

from test_deploy_inhibit import _pipeline, _suppressed, alertmanager  # noqa: F401 (the fixture, a real Alertmanager: its parameter below is it)


def test_a_daemon_kafka_refuses_pages_for_that_not_for_being_down_or_restarting(alertmanager: str) -> None:  # noqa: F811
    # A refusal is retried as an outage: the daemon exits 3 after kafka.unavailable_exit_s and restarts
    # with a growing back-off, again and again. DhagKafkaAccessRefused, which holds through those
    # restarts and names the cause, is its one page (DhagKafkaUnreachable stays silent for it): its
    # restarts and its minutes down say nothing more. That daemon's only (its plant, job and
    # address); another plant's daemon at the same address, and another daemon of its plant, page.
    refused = {"instance": "a1:9108", "namespace": "plant-a", "kind": "authorisation"}
    alerts = [
        _pipeline("DhagKafkaAccessRefused", "critical", **refused),
        _pipeline("DhagDaemonDown", "critical", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagDaemonRestarting", "warning", instance="a1:9108", namespace="plant-a"),
        _pipeline("DhagDaemonDown", "critical", instance="a2:9108", namespace="plant-a"),
        _pipeline("DhagDaemonDown", "critical", instance="a1:9108", namespace="plant-b"),
        _pipeline("DhagKafkaAccessRefused", "critical", instance="172.18.0.5:9108", kind="authentication"),
        _pipeline("DhagDaemonRestarting", "warning", instance="172.18.0.5:9108"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagDaemonDown", "a1:9108", "plant-a"),
        ("DhagDaemonRestarting", "a1:9108", "plant-a"),
        ("DhagDaemonRestarting", "172.18.0.5:9108", ""),
    }
