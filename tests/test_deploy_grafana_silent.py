"""The plant overview names the assets that stopped being scored, which leave every other panel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy_support import DEPLOY, check_recording_rules

PLANT_OVERVIEW = DEPLOY / "grafana" / "dashboards" / "dhag-plant-overview.json"
SILENT = "Assets no longer scored (silent, or their daemon down)"


def _silent_query() -> dict[str, Any]:
    (panel,) = [p for p in json.loads(PLANT_OVERVIEW.read_text())["panels"] if p["title"] == SILENT]
    return panel


def test_the_plant_overview_lists_the_assets_scored_in_the_last_day_that_are_not_scored_now(
    tmp_path: Path,
) -> None:
    # pump-01 sends until 10m, then its daemon drops its series (alerts.quiet_s); compressor-01's
    # partition moves from d1 to d2 at 20m; fan-01 sends throughout. Before, no panel named pump-01:
    # its series were gone from every one of them.
    panel = _silent_query()
    (target,) = panel["targets"]
    assert target["instant"] and panel["type"] == "table"

    def series(instance: str, asset: str, values: str) -> dict[str, str]:
        labels = f'job="dhag-pipeline", instance="{instance}:9108", asset="{asset}"'
        return {"series": f"dhag_asset_score{{{labels}}}", "values": values}

    def case(group: str, eval_time: str, rows: list[tuple[str, str, float]]) -> dict[str, Any]:
        expr = target["expr"].replace("$asset_group", group).replace("$namespace", ".*")
        samples = [{"labels": f'{{asset="{a}", asset_group="{g}"}}', "value": v} for a, g, v in rows]
        return {"expr": expr, "eval_time": eval_time, "exp_samples": samples}

    check_recording_rules(
        tmp_path / "silent-test.yml",
        [
            series("d1", "pump-01", "0.2x9 0.7 stale"),
            series("d1", "compressor-01", "0.1x19 stale"),
            series("d2", "compressor-01", "_x19 0.1x40"),
            series("d1", "fan-01", "0.3x60"),
        ],
        [
            case(".*", "5m", []),
            case(".*", "30m", [("pump-01", "pump", 0.7)]),
            case("pump", "30m", [("pump-01", "pump", 0.7)]),
            case("fan|compressor", "30m", []),
        ],
    )
