"""deploy/alertmanager's inhibit rules for the assets beyond metrics.asset_limit during a plant-wide
event, run by a real Alertmanager as in test_deploy_inhibit.py."""

from __future__ import annotations

from test_deploy_inhibit import _pipeline, _suppressed, alertmanager  # noqa: F401 (the fixture, a real Alertmanager: its parameter below is it)


def _unlisted(instance: str, **labels: str) -> dict[str, str]:
    return _pipeline("DhagAssetsAnomalousUnlisted", "critical", instance=instance) | labels


def test_a_plant_wide_event_holds_back_its_plants_unlisted_assets_page_only(alertmanager: str) -> None:  # noqa: F811
    # Both page plant operations: one page for the event. Another plant's unlisted assets, those of a
    # plant where only a group's alert fires (no group can be told for them), and another job's still
    # page; so does the plant's own once the event's alert resolves (nothing holds it back then).
    alerts = [
        _pipeline("DhagManyAssetsAnomalous", "critical", namespace="plant-a"),
        _unlisted("a1:9108", namespace="plant-a", pod="scorer-0"),
        _unlisted("a2:9108", namespace="plant-a", pod="scorer-1"),
        _unlisted("b1:9108", namespace="plant-b", pod="scorer-0"),
        _pipeline("DhagManyAssetsAnomalous", "critical", namespace="plant-c", asset_group="pump"),
        _unlisted("c1:9108", namespace="plant-c", pod="scorer-0"),
        _pipeline("DhagManyAssetsAnomalous", "critical"),
        _unlisted("172.18.0.5:9108"),
        _unlisted("172.18.0.5:9108", job="dhag-pipeline-b"),
    ]
    assert _suppressed(alertmanager, alerts) == {
        ("DhagAssetsAnomalousUnlisted", "a1:9108", "plant-a"),
        ("DhagAssetsAnomalousUnlisted", "a2:9108", "plant-a"),
        ("DhagAssetsAnomalousUnlisted", "172.18.0.5:9108", ""),
    }
