"""An alert's ``suspect_sensors``: which single raw sensor, read differently, makes the opening reading
look most normal to the model (:mod:`pipeline.suspects`)."""

from __future__ import annotations

import io
from collections import namedtuple
from types import SimpleNamespace

import numpy as np
import orjson
import pytest
from plant_data import FEATURES, normal
from prometheus_client import CollectorRegistry

from pipeline import alertscmd
from pipeline.carryover import open_episodes
from pipeline.config import RecordSettings, Settings
from pipeline.hotswap import ActiveModel, bind_model
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.scoreboard import Scoreboard
from pipeline.suspects import candidates

Rec = namedtuple("Rec", "topic partition offset key value")


def _values(row: np.ndarray) -> dict[str, float]:
    return {name: float(x) for name, x in zip(FEATURES, row, strict=True)}


@pytest.mark.parametrize("pushed", [1, 3])
def test_the_sensor_pushed_far_off_is_named_first(fitted, pushed: int) -> None:
    # flow_total = flow_a + flow_b and vibration on its own: push one sensor 8 standard deviations off.
    active = bind_model(fitted, "v1", RecordSettings())
    rows = normal(np.random.default_rng(7), 5)
    rows[:, pushed] += 8.0
    values = [_values(r) for r in rows]
    found = active.suspect_sensors(values, ["p1"] * 5, [[]] * 5, top=2)
    own = fitted.decision_function(rows)
    for entries, row, score in zip(found, rows, own, strict=True):
        assert entries[0]["sensor"] == FEATURES[pushed]
        first = entries[0]
        assert first["value"] == pytest.approx(row[pushed]) and first["imputed"] is False
        # The value that made it most normal lies far nearer the training mean (about 0) than the reading.
        assert abs(first["typical_value"]) < abs(row[pushed]) / 2
        assert first["score_if_typical"] < score
        assert [e["score_if_typical"] for e in entries] == sorted(e["score_if_typical"] for e in entries)


def test_a_reading_saturated_whatever_one_sensor_reads_still_names_the_one_furthest_out(fitted) -> None:
    # Vibration 1000 and flow_a 400 standard deviations off: no single change brings the score below
    # exactly 1.0, but resetting the vibration moves the network's logit furthest towards normal.
    active = bind_model(fitted, "v1", RecordSettings())
    row = normal(np.random.default_rng(10), 1)[0]
    row[3] += 1000.0
    row[0] += 400.0
    assert fitted.decision_function(row[None]).tolist() == [1.0]
    found = active.suspect_sensors([_values(row)], ["p1"], [[]], top=4)[0]
    assert [e["sensor"] for e in found[:2]] == ["vibration", "flow_a"]
    assert [e["score_if_typical"] for e in found[:2]] == [1.0, 1.0]  # still saturated: a score, as before
    assert abs(found[0]["typical_value"]) < abs(row[3]) / 2


def test_an_imputed_sensor_is_never_a_suspect(fitted) -> None:
    active = bind_model(fitted, "v1", RecordSettings())
    row = normal(np.random.default_rng(8), 1)[0]
    row[3] += 8.0
    found = active.suspect_sensors([_values(row)], ["p1"], [["vibration"]], top=4)[0]
    assert "vibration" not in [e["sensor"] for e in found]
    # Named when the record read it.
    assert active.suspect_sensors([_values(row)], ["p1"], [[]], top=4)[0][0]["sensor"] == "vibration"


class _Logits:
    """A model stand-in: its network's logit of a row is a rule of the row's raw values (features a
    and b), and its score the sigmoid of that (exactly 1.0 past a logit of about 37)."""

    def __init__(self, rule) -> None:
        self.rule = rule

    def transform(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        # The daemon hands a model its rows as columns by name (pipeline.modelinput.by_name).
        return np.column_stack([columns["a"], columns["b"]]).astype(float)

    def score_and_logit_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = np.array([float(self.rule(r)) for r in matrix])  # the rule may refuse a row
        return 1 / (1 + np.exp(-logits)), logits


def _active(rule) -> ActiveModel:
    return ActiveModel(_Logits(rule), "v", 0.5, ["a", "b"], {"a": 10.0, "b": 10.0}, None, None)  # type: ignore[arg-type]


def test_a_reading_no_single_change_moves_towards_normal_names_nothing() -> None:
    # Whatever one sensor reads, the logit stays where it was: naming one would be the order of features.
    assert _active(lambda r: 60.0).suspect_sensors([{"a": 50.0, "b": 60.0}], ["p1"], [[]], top=2) == [[]]


def test_saturated_scores_rank_by_the_logit_and_say_the_score() -> None:
    # Every copy scores exactly 1.0; the logit falls furthest as b nears its mean, less as a does.
    rule = lambda r: 100.0 + 0.5 * abs(r[0] - 10.0) + 2.0 * abs(r[1] - 10.0)  # noqa: E731
    found = _active(rule).suspect_sensors([{"a": 50.0, "b": 60.0}], ["p1"], [[]], top=2)[0]
    assert [(e["sensor"], e["typical_value"], e["score_if_typical"]) for e in found] == [
        ("b", 10.0, 1.0),
        ("a", 10.0, 1.0),
    ]


def test_a_candidate_the_model_refuses_is_passed_over_not_the_whole_reading() -> None:
    # The model refuses any row with b at exactly its mean: the batch is scored again row by row, that
    # copy alone is left out, and b is still named with the nearest candidate the model did score.
    from dhag import DHAGError

    def rule(r: np.ndarray) -> float:
        if r[1] == 10.0:
            raise DHAGError("the network returned NaN")
        return 100.0 + 0.5 * abs(r[0] - 10.0) + 2.0 * abs(r[1] - 10.0)

    found = _active(rule).suspect_sensors([{"a": 50.0, "b": 60.0}], ["p1"], [[]], top=2)[0]
    assert [e["sensor"] for e in found] == ["b", "a"]
    assert found[0]["typical_value"] != 10.0 and abs(found[0]["typical_value"] - 10.0) <= 5.0


def test_equal_lowest_logits_rank_the_smaller_change_first() -> None:
    # Either sensor at its mean makes the reading look normal (logit -1.4); b needs the smaller change.
    rule = lambda r: -1.4 if 10.0 in (r[0], r[1]) else 60.0  # noqa: E731
    found = _active(rule).suspect_sensors([{"a": 40.0, "b": 11.0}], ["p1"], [[]], top=2)[0]
    score = 1 / (1 + np.exp(1.4))
    assert [(e["sensor"], e["typical_value"], e["score_if_typical"]) for e in found] == [
        ("b", 10.0, score),
        ("a", 10.0, score),
    ]


def test_candidates_span_value_and_mean_for_zero_and_negative_readings() -> None:
    for value, mean in [(0.0, 41.2), (-3.0, 5.0), (7.0, 0.0), (-2.0, -2.0)]:
        tried = candidates(value, mean)
        assert mean in tried and len(tried) <= 123
        assert tried.min() < min(value, mean) or value == mean == 0
        assert tried.max() > max(value, mean) or value == mean == 0


# Every score opens or resolves at once (no hold): one reading per step of these tests.
_ALERTS = {"open_after": 1, "window": 1, "resolve_after": 1, "resolve_hold_s": 0.0, "top_sensors": 3}


def _processor(fitted) -> BatchProcessor:
    settings = Settings.model_validate({"alerts": _ALERTS})
    return BatchProcessor(settings, fitted, "v7", PipelineMetrics(CollectorRegistry()))


def _record(ts: float, row: np.ndarray) -> bytes:
    return orjson.dumps({"asset_id": "p1", "ts": ts, "values": _values(row), "schema": 1})


def test_the_open_event_carries_suspects_and_the_resolution_repeats_them(fitted) -> None:
    proc = _processor(fitted)
    row = normal(np.random.default_rng(9), 1)[0]
    far = row.copy()
    far[3] += 9.0
    opened = proc.process([Rec("in", 0, 0, b"p1", _record(100.0, far))], now=100.0)
    event = orjson.loads(opened.messages[0].value)
    assert event["state"] == "open"
    assert event["suspect_sensors"][0]["sensor"] == "vibration"
    keys = {"sensor", "value", "typical_value", "score_if_typical", "imputed"}
    assert set(event["suspect_sensors"][0]) == keys
    assert event["top_sensors"]  # unchanged beside it
    closed = proc.process([Rec("in", 0, 1, b"p1", _record(101.0, row))], now=101.0)
    resolved = [orjson.loads(m.value) for m in closed.messages if b'"resolved"' in m.value]
    assert resolved and resolved[0]["suspect_sensors"] == event["suspect_sensors"]
    # Carried over by another owner of the partition, its resolution still says them.
    (carried,) = open_episodes([event], input_topic="in")[0]
    later = _processor(fitted)
    later.carry_over(("in", 0), [carried], now=101.0, replayed={})
    out = later.process([Rec("in", 0, 1, b"p1", _record(101.0, row))], now=101.0)
    again = [orjson.loads(m.value) for m in out.messages if b'"resolved"' in m.value]
    assert again and again[0]["suspect_sensors"] == event["suspect_sensors"]


def _suspect_series(proc: BatchProcessor) -> dict[str, str]:
    reg = proc.metrics.registry
    return {
        s.labels["asset"]: s.labels["sensor"]
        for family in reg.collect()
        if family.name == "dhag_asset_suspect_sensor"
        for s in family.samples
        if s.value == 1
    }


def test_an_open_alerts_first_suspect_is_exported_until_it_resolves_or_its_partition_leaves(fitted) -> None:
    proc = _processor(fitted)
    row = normal(np.random.default_rng(9), 1)[0]
    far = row.copy()
    far[3] += 9.0
    opened = proc.process([Rec("in", 0, 0, b"p1", _record(100.0, far))], now=100.0)
    event = orjson.loads(opened.messages[0].value)
    assert _suspect_series(proc) == {"p1": event["suspect_sensors"][0]["sensor"]} == {"p1": "vibration"}
    proc.process([Rec("in", 0, 1, b"p1", _record(101.0, row))], now=101.0)  # resolved
    assert _suspect_series(proc) == {}
    # Carried over by another owner of the partition: its series again, until the partition leaves.
    (carried,) = open_episodes([event], input_topic="in")[0]
    later = _processor(fitted)
    later.carry_over(("in", 0), [carried], now=101.0, replayed={})
    assert _suspect_series(later) == {"p1": "vibration"}
    later.drop_partitions([("in", 0)])
    assert _suspect_series(later) == {}
    # An event naming a sensor the model does not read (written by anything) exports none.
    odd = event | {"suspect_sensors": [{"sensor": "made_up", "value": 1.0}]}
    (carried,) = open_episodes([odd], input_topic="in")[0]
    other = _processor(fitted)
    other.carry_over(("in", 0), [carried], now=101.0, replayed={})
    assert _suspect_series(other) == {}
    assert other.metrics.registry.get_sample_value("dhag_asset_anomalous", {"asset": "p1"}) == 1


def test_an_alert_naming_no_suspect_or_beyond_the_asset_limit_exports_none(fitted, monkeypatch) -> None:
    settings = Settings.model_validate({"alerts": _ALERTS})
    proc = BatchProcessor(settings, fitted, "v7", PipelineMetrics(CollectorRegistry(), asset_limit=1))
    far = normal(np.random.default_rng(9), 1)[0]
    far[3] += 9.0

    def record(asset: str, ts: float) -> bytes:
        return orjson.dumps({"asset_id": asset, "ts": ts, "values": _values(far), "schema": 1})

    out = proc.process([Rec("in", 0, i, a.encode(), record(a, 100.0)) for i, a in enumerate(["p1", "p2"])])
    assert out.opened == 2 and _suspect_series(proc) == {"p1": "vibration"}  # p2: no per-asset series
    monkeypatch.setattr(ActiveModel, "suspect_sensors", lambda self, values, *a, **k: [[] for _ in values])
    proc.drop_partitions([("in", 0)])
    out = proc.process([Rec("in", 0, 5, b"p1", record("p1", 101.0))])
    event = orjson.loads(out.messages[0].value)
    assert out.opened == 1 and event["suspect_sensors"] == [] and _suspect_series(proc) == {}
    assert proc.metrics.registry.get_sample_value("dhag_asset_anomalous", {"asset": "p1"}) == 1


def test_an_event_written_before_suspects_carries_over_with_none() -> None:
    old = {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5.0, "ts": 5.0}
    old |= {"score": 0.9, "source": "in/0/4", "top_sensors": [], "values": {"flow": 1.0}}
    (carried,) = open_episodes([old], input_topic="in")[0]
    assert carried.context[3] == []


_SUSPECT = {"sensor": "flow_m3h", "value": 0.0, "typical_value": 41.23, "score_if_typical": 0.1}
_SUSPECT |= {"imputed": False}


def test_the_consoles_show_the_first_suspect(monkeypatch) -> None:
    event = {"state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0, "score": 0.99}
    event |= {"model_version": "v1", "top_sensors": [{"sensor": "flow_pu"}], "suspect_sensors": [_SUSPECT]}
    board = Scoreboard()
    board.add_alert(event)
    assert board.alerts["a1"].suspects == ["flow_m3h (reads 0, typical 41.2)"]

    messages = [SimpleNamespace(value=orjson.dumps(event))]
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: messages if "alert" in topic else [])
    monkeypatch.setattr(alertscmd, "console_bootstrap", lambda *a: "broker:9092")
    args = SimpleNamespace(open=False, asset=None, limit=10, json=False, bootstrap=None)
    out = io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=io.StringIO()) == 0
    assert "SUSPECT" in out.getvalue() and "flow_m3h (reads 0, typical 41.2)" in out.getvalue()


def test_a_suspect_near_its_typical_value_is_shown_apart_from_it() -> None:
    # A sensor stuck at a plausible value reads within a few percent of what the model finds typical:
    # 3 significant digits printed 1668 and 1672 both as 1.67e+03, and 1.0027 and 1.013 bar as 1 and 1.01.
    board = Scoreboard()
    event = {"state": "open", "alert_id": "a1", "asset_id": "fan-05", "opened_at": 5.0, "score": 0.9}
    stuck = {"sensor": "speed_rpm", "value": 1668.0, "typical_value": 1672.4, "score_if_typical": 0.4}
    pressure = {"sensor": "suction_pressure_bar", "value": 1.0027, "typical_value": 1.013}
    board.add_alert(event | {"top_sensors": [], "suspect_sensors": [stuck, pressure]})
    assert board.alerts["a1"].suspects == [
        "speed_rpm (reads 1668, typical 1672.4)",
        "suction_pressure_bar (reads 1.003, typical 1.013)",
    ]


def test_the_demo_console_prints_each_open_alerts_first_suspect() -> None:
    from pipeline.democonsole import DemoConsole
    from pipeline.simulator.stream import StreamStats

    console = object.__new__(DemoConsole)
    console.out, console.operator, console.board = io.StringIO(), None, Scoreboard()
    console.scored, console.lag = SimpleNamespace(rate=0.0), 0.0
    console.unreadable, console.unreadable_named = 0, []
    event = {"state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0, "score": 0.99}
    console.board.add_alert(event | {"top_sensors": [{"sensor": "flow_pu"}], "suspect_sensors": [_SUSPECT]})
    console.board.add_alert(event | {"alert_id": "a2", "asset_id": "fan-01", "top_sensors": []})
    console.print_summary(1.0, StreamStats())
    lines = [line for line in console.out.getvalue().splitlines() if "OPEN" in line]
    assert "suspect: flow_m3h (reads 0, typical 41.2)" in lines[0]
    assert "suspect: -" in lines[1]


def test_a_plant_model_suspects_raw_sensors_through_its_derived_features() -> None:
    from pipeline.features import INPUT_SENSORS
    from pipeline.plantmodel import train_plant_model
    from pipeline.simulator import Fleet

    history = Fleet(3, seed=11, run=0).run(3600, 10.0)
    model = train_plant_model(history, seed=0, max_epochs=5, time_budget=None)
    active = bind_model(model, "v1", RecordSettings(missing_policy="impute"))
    readings = history[history["asset_id"] == "pump-01"].iloc[::50][list(INPUT_SENSORS)].to_dict("records")
    for sensor in ("motor_power_kw", "vibration_mm_s"):
        values = [r | {sensor: 3 * r[sensor]} for r in readings]
        found = active.suspect_sensors(values, ["pump-01"] * len(values), [[]] * len(values), top=3)
        assert [entries[0]["sensor"] for entries in found] == [sensor] * len(values)
        assert all(set(e["sensor"] for e in entries) <= set(INPUT_SENSORS) for entries in found)
    # The record lacked the power: its training mean stood in, and it is never a suspect.
    values = [{k: v for k, v in r.items() if k != "motor_power_kw"} for r in readings]
    found = active.suspect_sensors(
        values, ["pump-01"] * len(values), [["motor_power_kw"]] * len(values), top=3
    )
    assert not any(e["sensor"] == "motor_power_kw" for entries in found for e in entries)


def test_many_alerts_opening_at_once_are_scored_in_bounded_slices(fitted, monkeypatch) -> None:
    # A plant-wide event opens an alert on every asset in one batch: before, every reading's copies
    # (sensors x up to 123 candidates each) went to the model in one matrix, so memory grew with the
    # number of alerts. Now at most SUSPECT_READINGS readings' copies go at once, with the same answer.
    from pipeline import suspects

    active = bind_model(fitted, "v1", RecordSettings())
    rows = normal(np.random.default_rng(11), 2 * suspects.SUSPECT_READINGS + 5)
    rows[::3, 1] += 8.0
    rows[1::3, 3] -= 9.0
    values = [_values(r) for r in rows]
    assets = [f"p{j}" for j in range(len(rows))]
    one_by_one = [
        active.suspect_sensors([v], [a], [[]], top=3)[0] for v, a in zip(values, assets, strict=True)
    ]
    sizes: list[int] = []
    scored = ActiveModel.scores_and_logits

    def counted(self: ActiveModel, matrix: np.ndarray):
        sizes.append(len(matrix))
        return scored(self, matrix)

    monkeypatch.setattr(ActiveModel, "scores_and_logits", counted)
    together = active.suspect_sensors(values, assets, [[]] * len(values), top=3)
    # The same suspects; scores to float noise (the network's sums depend on how many rows go at once).
    assert [[e["sensor"] for e in r] for r in together] == [[e["sensor"] for e in r] for r in one_by_one]
    flat = [e["score_if_typical"] for r in one_by_one for e in r]
    assert [e["score_if_typical"] for r in together for e in r] == pytest.approx(flat, abs=1e-6)
    per_reading = 1 + len(FEATURES) * 123  # the reading and at most 123 candidates per sensor
    assert len(sizes) == 3 and max(sizes) <= suspects.SUSPECT_READINGS * per_reading


def test_the_demo_console_shows_sensor_names_escaped_as_dhag_info_does() -> None:
    # The demo's console reads the configured alerts topic from its start: on a shared cluster, alerts
    # of models trained on a user's columns. Before, a name holding a line break or a terminal's escape
    # went to the terminal raw, splitting the alert's line and acting on the terminal.
    from pipeline.democonsole import DemoConsole
    from pipeline.simulator.stream import StreamStats

    console = object.__new__(DemoConsole)
    console.out, console.operator, console.board = io.StringIO(), None, Scoreboard()
    console.scored, console.lag = SimpleNamespace(rate=0.0), 0.0
    console.unreadable, console.unreadable_named = 0, []
    odd = "flow\nrate\x1b[2J"
    top = [{"sensor": odd, "outside_training_range": "above"}, {"sensor": "head_pu"}]
    event = {"state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0, "score": 0.99}
    console.board.add_alert(event | {"top_sensors": top, "suspect_sensors": [_SUSPECT | {"sensor": odd}]})
    console.print_summary(1.0, StreamStats())
    printed = console.out.getvalue()
    assert "\x1b" not in printed
    (line,) = [line for line in printed.splitlines() if "OPEN" in line]
    shown = r"'flow\nrate\x1b[2J'"
    assert f"top {shown} (above history), head_pu  suspect: {shown} (reads 0, typical 41.2)" in line


def test_the_alerts_console_shows_sensor_names_escaped_as_dhag_info_does(monkeypatch) -> None:
    # The alerts console reads a shared cluster's alerts topic: alerts of models trained on a user's
    # columns. Before, a top or suspect sensor's name holding a line break or a terminal's escape went to
    # the terminal raw, splitting the episode's row and acting on the terminal.
    odd = "flow\nrate\x1b[2J"
    event = {"state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0, "score": 0.99}
    top = [{"sensor": odd, "outside_training_range": "above"}, {"sensor": "head_pu"}]
    event |= {"model_version": "v1", "top_sensors": top, "suspect_sensors": [_SUSPECT | {"sensor": odd}]}
    messages = [SimpleNamespace(value=orjson.dumps(event))]
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: messages if "alert" in topic else [])
    monkeypatch.setattr(alertscmd, "console_bootstrap", lambda *a: "broker:9092")
    args = SimpleNamespace(open=False, asset=None, limit=10, json=False, bootstrap=None, since=None)
    out = io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=io.StringIO()) == 0
    printed = out.getvalue()
    assert "\x1b" not in printed and len(printed.splitlines()) == 2, printed
    shown = r"'flow\nrate\x1b[2J'"
    assert f"{shown} (above history),head_pu" in printed and f"{shown} (reads 0, typical 41.2)" in printed
