"""How many anomalous assets make DhagManyAssetsAnomalous fire, at plant sizes the YAML unit tests of
deploy/prometheus/tests do not reach: promtool evaluates the recording rules on generated plants."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from deploy_support import DEPLOY, RULES, run, tool

# Plant size -> the fewest anomalous assets at once that share a cause (None: never, the plant is
# smaller than that): at least 5; at least a fifth of the plant, or 20 assets; at least a tenth.
FEWEST = {
    3: None,
    4: None,
    5: 5,
    10: 5,
    25: 5,
    26: 6,
    50: 10,
    99: 20,
    100: 20,
    150: 20,
    200: 20,
    201: 21,
    300: 30,
}


def _case(size: int, anomalous: int) -> dict:
    series = [
        {
            "series": f'dhag_asset_anomalous{{job="dhag-pipeline", instance="d1", asset="pump-{i:03d}"}}',
            "values": "1x3" if i < anomalous else "0x3",
        }
        for i in range(size)
    ]
    fires = FEWEST[size] is not None and anomalous >= FEWEST[size]
    expected = [{"labels": 'job:dhag_asset_anomalous:common_cause{job="dhag-pipeline"}', "value": anomalous}]
    return {
        "name": f"{anomalous} of {size} assets",
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {
                "expr": "job:dhag_asset_anomalous:common_cause",
                "eval_time": "2m",
                "exp_samples": expected if fires else [],
            }
        ],
    }


def test_the_share_of_assets_that_makes_a_common_cause_scales_with_the_plant(tmp_path: Path) -> None:
    cases = []
    for size, fewest in FEWEST.items():
        if fewest is None:
            cases += [_case(size, size)]  # every asset of it anomalous, and still no common cause
        else:
            cases += [_case(size, fewest - 1), _case(size, fewest)]
    recording = next(path for path in RULES if path.name == "dhag-recording.yml")
    spec = {"rule_files": [str(recording)], "evaluation_interval": "1m", "tests": cases}
    path = tmp_path / "many-assets-test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run([tool("promtool"), "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_plant_overview_marks_the_count_that_fires_the_plant_alert(tmp_path: Path) -> None:
    # The dashed line of the plant overview's panel is the same rule as the recording rule's.
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "dhag-plant-overview.json").read_text())
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith("Assets anomalous at once")]
    (expr,) = [t["expr"] for t in panel["targets"] if t["legendFormat"].startswith("plant-wide alert at")]
    expr = expr.replace("$namespace", ".*")  # the plant filter's "All" (compose: no namespace)
    cases = [
        {
            "name": f"a plant of {size}",
            "interval": "1m",
            "input_series": [
                {"series": 'job:dhag_asset_anomalous:count{job="dhag-pipeline"}', "values": f"{size}x2"}
            ],
            "promql_expr_test": [
                {"expr": expr, "eval_time": "1m", "exp_samples": [{"labels": "{}", "value": fewest or 5}]}
            ],
        }
        for size, fewest in FEWEST.items()
    ]
    path = tmp_path / "panel-test.yml"
    path.write_text(
        yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": cases}, sort_keys=False)
    )
    result = run([tool("promtool"), "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
