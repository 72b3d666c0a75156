"""The plant overview tells a machine at standstill from the plant's most anomalous one: a stopped
machine scores near 1 and is judged normal (no alert), and its score drew it far over the threshold and
at the top of the table of assets by score. Now its score is left out while it stands still, and a
timeline says which machines stand still or warm up (``dhag:asset_state``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy_support import DEPLOY, check_recording_rules

PLANT_OVERVIEW = DEPLOY / "grafana" / "dashboards" / "dhag-plant-overview.json"
STATES = "Machines stopped or warming up (plant model)"
DAEMON = 'job="dhag-pipeline", instance="10.0.0.5:9108"'
# (plant, asset) -> dhag_asset_score and dhag_asset_state over ten minutes (None: a raw-sensor model's
# asset, no state). Plant a's pump-01 stops at minute 4, scoring 0.99; plant b's pump-01 runs.
FLEET: dict[tuple[str, str], tuple[str, str | None]] = {
    ("plant-a", "pump-01"): ("0.2x3 0.99x6", "0x3 1x6"),
    ("plant-a", "fan-01"): ("0.6x9", "2x9"),  # warming up: judged as any other but its cold bearing
    ("plant-a", "pump-02"): ("0.3x9", "0x9"),
    ("plant-a", "valve-01"): ("0.4x9", None),
    ("plant-b", "pump-01"): ("0.5x9", "0x9"),
}


def _panels() -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in json.loads(PLANT_OVERVIEW.read_text())["panels"]}


def _case(expr: str, time: str, rows: dict[tuple[str, str], float], *, group: bool = False) -> dict[str, Any]:
    expr = expr.replace("$namespace", "(plant-a|plant-b)").replace("$asset_group", ".*")
    samples = [
        {
            "labels": f'{{namespace="{plant}", asset="{asset}"'
            + (f', asset_group="{asset.split("-")[0]}"}}' if group else "}"),
            "value": value,
        }
        for (plant, asset), value in rows.items()
    ]
    return {"expr": expr, "eval_time": time, "exp_samples": samples}


def test_a_stopped_machine_is_left_out_of_the_scores_and_drawn_as_stopped(tmp_path: Path) -> None:
    panels = _panels()
    score = panels["Anomaly score per asset"]["targets"][0]["expr"]
    top = panels["Top assets by anomaly score"]["targets"][0]["expr"]
    (state,) = [t["expr"] for t in panels[STATES]["targets"]]
    inputs = []
    for (plant, asset), (scores, states) in FLEET.items():
        labels = f'namespace="{plant}", {DAEMON}, asset="{asset}"'
        inputs.append({"series": f"dhag_asset_score{{{labels}}}", "values": scores})
        if states is not None:
            inputs.append({"series": f"dhag_asset_state{{{labels}}}", "values": states})
    running = {
        ("plant-a", "fan-01"): 0.6,
        ("plant-a", "pump-02"): 0.3,
        ("plant-a", "valve-01"): 0.4,
        ("plant-b", "pump-01"): 0.5,
    }
    check_recording_rules(
        tmp_path / "states-test.yml",
        inputs,
        [
            _case(score, "2m", running | {("plant-a", "pump-01"): 0.2}),
            _case(score, "8m", running),  # plant a's pump-01 stands still: its 0.99 is left out
            _case(top, "8m", running, group=True),
            _case(
                state,
                "8m",
                {k: float(v[1][0]) for k, v in FLEET.items() if v[1] is not None}
                | {("plant-a", "pump-01"): 1},
            ),
        ],
    )


def test_the_states_are_named_and_the_score_panels_say_what_they_leave_out() -> None:
    panels = _panels()
    timeline = panels[STATES]
    assert timeline["type"] == "state-timeline"
    (mapping,) = timeline["fieldConfig"]["defaults"]["mappings"]
    named = {value: option["text"] for value, option in mapping["options"].items()}
    assert mapping["type"] == "value" and named == {"0": "running", "1": "stopped", "2": "warming up"}
    for title in ("Anomaly score per asset", "Top assets by anomaly score"):
        assert "standstill" in panels[title]["description"] and STATES in panels[title]["description"]
