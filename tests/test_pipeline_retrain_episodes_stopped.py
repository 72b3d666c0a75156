"""An alert episode no event resolved, on a machine that stopped: its end is found as the daemon judges
the readings after it, a standstill normal whatever it scores, and a cold start's readings that the
cold bearing alone put over the threshold normal within ``alerts.warmup_s``."""

from __future__ import annotations

from test_pipeline_standstill import _stopped

from dhag import DHAG
from pipeline.config import AlertSettings
from pipeline.labelstore import LabelStore
from pipeline.retrain.openepisodes import open_episode_ends
from pipeline.simulator import Fleet

ALERTS = AlertSettings(open_after=2, window=3, resolve_after=3, resolve_hold_s=0)


def _faulty(values: dict[str, float]) -> dict[str, float]:
    """A bearing failing: vibrating six times as hard, 25 K hotter."""
    return values | {
        "vibration_mm_s": 6 * values["vibration_mm_s"],
        "bearing_temp_c": values["bearing_temp_c"] + 25,
    }


def _cold(values: dict[str, float]) -> dict[str, float]:
    """Started after a stop: the bearing at ambient."""
    return values | {"bearing_temp_c": values["ambient_temp_c"] + 1.0}


def _ends(plant_model: DHAG, states: list[str], alerts: AlertSettings = ALERTS) -> dict[str, float]:
    """Where the open episode of the first machine ended, its readings (every 10 s from 10 s) in
    ``states``, the episode opened at its first faulty reading."""
    fleet = Fleet(3, seed=11, run=1)
    change = {"normal": dict, "fault": _faulty, "stopped": _stopped, "cold": _cold}
    rows = []
    for state in states:
        t, readings = fleet.step(10.0)
        asset, values = fleet.records(readings)[0]
        rows.append((asset, t, change[state](values)))
    store = LabelStore(":memory:")
    store.add_readings(rows, keep=10_000)
    opened = rows[states.index("fault")]
    store.add_alert({"alert_id": "a1", "asset_id": opened[0], "state": "open", "opened_at": opened[1],
                     "score": 1.0, "threshold": 0.7, "model_version": "v1", "values": opened[2]})  # fmt: skip
    return open_episode_ends(store, plant_model, alerts)


def test_an_episode_ends_where_its_machine_stopped(plant_model: DHAG) -> None:
    # The daemon, stopped past alerts.carry_over_s, never resolved it; the pump was then switched off.
    # Its readings at standstill score near 1.0: the episode lasted while it stood still, and every
    # reading of it stayed out of the normal sample until it ran normally again.
    assert _ends(plant_model, ["normal"] * 10 + ["fault"] * 10 + ["stopped"] * 20) == {"a1": 200.0}


def test_a_cold_start_after_a_stop_does_not_prolong_an_episode(plant_model: DHAG) -> None:
    states = ["normal"] * 10 + ["fault"] * 10 + ["stopped"] * 2 + ["cold"] * 10 + ["normal"] * 10
    assert _ends(plant_model, states) == {"a1": 200.0}
    # Without the warm-up rule, the daemon flags the cold bearing, and so does the replay.
    assert _ends(plant_model, states, ALERTS.model_copy(update={"warmup_s": 0.0})) == {"a1": 320.0}
