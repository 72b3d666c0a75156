"""``dhag-pipeline bench starts``: a plant whose machines stop and start, through the daemon's real path.

The simulated plant of the other benches never stops. Here some of its machines are standby machines,
running :data:`STANDBY_SHARE` of the time at a random moment of every :data:`SLOT_S` and stopped the
rest; every other machine stops once in each slot, for 15 to 45 % of it (the simulator's stops:
:meth:`~pipeline.simulator.fleet.Fleet.add_stop`; a machine stopped long enough starts cold).

1. A plant model is trained as ``models train`` trains it
   (:func:`~pipeline.plantmodel.train_plant_model`) on ``history_hours`` of such a history: its
   standby machines stood still most of it.
2. ``hours`` more of the plant, with other stops, and with faults of the simulator's ordinary kinds
   (two per asset where they fit in its running: one beginning 2 to 30 minutes after its first start
   of the stream, one beginning an hour or more after a start), are read by
   :class:`~pipeline.processing.BatchProcessor` as the daemon reads records, one per asset every
   :data:`INTERVAL_S`, twice: with the configured ``alerts.warmup_s`` and with ``warmup_s: 0``; then
   twice more as a gateway that sends nothing of a machine while it is switched off delivers it, with
   the configured ``alerts.warmup_after_silence_s`` and with 0 (only a standstill reading tells a stop,
   and there is none); then twice more with the daemon restarted :data:`RESTART_AFTER_START_S` after
   every start (a rollout while a machine is still cold, at every start: a stress, not a rollout's
   pace), its warm-up state lost at each restart and read back (:mod:`pipeline.warmupread`) or not.

For each run: the alerts opened, each one either in a fault's window (onset until the asset has
recovered, plus grace, as ``bench plant`` counts it: a detection) or false; a false one is *at a start*
when opened within :data:`START_WINDOW_S` after the asset started. The faults detected (an alert opened
in its window), overall and those beginning within :data:`EARLY_S` of a start, and those among these
that began while an alert of their asset was already open. Of the false alerts, those opened at
standstill and those opened while the machine was still cold after a start (the simulator's truth,
:attr:`~pipeline.simulator.fleet.Fleet.warming`). The readings judged warming up
(``dhag_readings_warming_up_total``) and at standstill.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import namedtuple
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from prometheus_client import CollectorRegistry

from pipeline.benchio import emit
from pipeline.config import Settings
from pipeline.frozen import FrozenSensors
from pipeline.metrics import PipelineMetrics
from pipeline.plantepisodes import fault_windows, in_window
from pipeline.plantmodel import train_plant_model
from pipeline.processing import BatchProcessor
from pipeline.simulator.faults import Fault, applicable_kinds, make_fault
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.physics import MACHINE_TYPES
from pipeline.warmup import WarmUp
from pipeline.warmupread import ReadingNotes

__all__ = ["plan_stops", "run_starts_bench", "starts_scenario", "stream_alerts"]

log = logging.getLogger(__name__)

HISTORY_INTERVAL_S = 30.0  # seconds between the training history's readings
INTERVAL_S = 10.0  # seconds between the stream's readings of each asset
SLOT_S = 8 * 3600.0  # each machine stops once per slot (a standby one runs once per slot)
STANDBY_EVERY = 4  # every fourth asset is a standby machine
STANDBY_SHARE = 0.3  # of each slot a standby machine runs
START_WINDOW_S = 3600.0  # an alert opened this soon after a start, no fault under way: false at a start
EARLY_S = 1800.0  # a fault beginning this soon after a start is an early one
EPOCH = 1.7e9  # record time of simulated second 0
RESTART_AFTER_START_S = 300.0  # the restart runs' daemon restarts this long after every start
Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")


def plan_stops(fleet: Fleet, rng: np.random.Generator, span_s: float) -> dict[str, list[tuple[float, float]]]:
    """Stop the machines of ``fleet`` over ``span_s`` seconds from its time: every
    :data:`STANDBY_EVERY`-th one a standby machine, the others once per slot. Returns each asset's
    stops ``(start, end)`` as added."""
    begin = fleet.t
    slots = max(1, round(span_s / SLOT_S))
    slot = span_s / slots
    plan: dict[str, list[tuple[float, float]]] = {}
    for i, asset in enumerate(fleet.asset_ids):
        stops: list[tuple[float, float]] = []
        for k in range(slots):
            at = begin + k * slot
            if i % STANDBY_EVERY == STANDBY_EVERY - 1:
                runs = at + rng.uniform(0.0, (1 - STANDBY_SHARE) * slot)
                stops += [(at, runs), (runs + STANDBY_SHARE * slot, at + slot)]
            else:
                start = at + rng.uniform(0.05, 0.2) * slot
                stops.append((start, start + rng.uniform(0.15, 0.45) * slot))
        merged: list[tuple[float, float]] = []
        for start, end in stops:  # a standby machine's stop that runs into the next slot's is one stop
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
            elif end > start:
                merged.append((start, end))
        for start, end in merged:
            fleet.add_stop(asset, start, end)
        plan[asset] = merged
    return plan


def _running_spans(stops: list[tuple[float, float]], begin: float, end: float) -> list[tuple[float, float]]:
    """The spans between ``stops`` (each ``(start, end)``, in order) within ``[begin, end)``."""
    spans, at = [], begin
    for start, stop_end in stops:
        if start > at:
            spans.append((at, min(start, end)))
        at = max(at, stop_end)
    if at < end:
        spans.append((at, end))
    return [(a, b) for a, b in spans if b > a]


def _faults(
    fleet: Fleet, plan: dict[str, list[tuple[float, float]]], rng: np.random.Generator, end: float
) -> list[Fault]:
    """Per asset, a fault beginning 2 to 30 minutes after its first start, and one beginning an hour or
    more after a start (in its longest running span after one), each only where it ends 5 minutes or
    more before the machine stops again."""
    faults = []
    for i, asset in enumerate(fleet.asset_ids):
        kinds = applicable_kinds(fleet.machine_types[i])
        after_start = [s for s in _running_spans(plan[asset], fleet.t, end) if s[0] > fleet.t]
        picks = []
        if after_start:
            a, b = after_start[0]
            picks.append((a + 120.0, min(a + EARLY_S, b - 300.0)))
        if after_start:
            a, b = max(after_start, key=lambda s: s[1] - s[0])
            picks.append((a + START_WINDOW_S, b - 300.0))
        for low, high in picks:
            duration = float(rng.uniform(300.0, 900.0))
            if high - duration <= low:
                continue
            onset = float(rng.uniform(low, high - duration))
            faults.append(make_fault(i, asset, str(rng.choice(kinds)), onset, duration, rng))
    return sorted(faults, key=lambda f: f.onset)


def starts_scenario(
    *, seed: int, assets: int, history_hours: float, hours: float
) -> tuple[pd.DataFrame, pd.DataFrame, list[Fault], dict[str, Any]]:
    """``(history, stream, faults, plan)``: the training history and the stream (each with its stops),
    the stream's faults, and the stops of each (``plan["history"]``, ``plan["stream"]``: per asset,
    its stops ``(start, end)``) with the standby assets (``plan["standby"]``)."""
    rng = np.random.default_rng([seed, 2026])
    old = Fleet(assets, seed=seed, run=0)
    history_plan = plan_stops(old, rng, history_hours * 3600.0)
    history = old.run(history_hours * 3600.0, HISTORY_INTERVAL_S)
    fleet = Fleet(assets, seed=seed, run=1)
    stream_plan = plan_stops(fleet, rng, hours * 3600.0)
    fleet.faults = _faults(fleet, stream_plan, rng, hours * 3600.0)
    stream = fleet.run(hours * 3600.0, INTERVAL_S)
    standby = [a for i, a in enumerate(fleet.asset_ids) if i % STANDBY_EVERY == STANDBY_EVERY - 1]
    return history, stream, fleet.faults, {"history": history_plan, "stream": stream_plan, "standby": standby}


def _batches(stream: pd.DataFrame, topic: str) -> list[tuple[float, list[Rec]]]:
    """The stream's readings as the daemon's records, one batch per time step (every asset's reading)."""
    values: list[dict[str, float]] = [{}] * len(stream)
    for mtype, spec in MACHINE_TYPES.items():
        rows = np.flatnonzero((stream["machine_type"] == mtype).to_numpy())
        table = stream[list(spec.sensors)].to_numpy(float)[rows].round(4).tolist()
        for j, row in zip(rows.tolist(), table, strict=True):
            values[j] = dict(zip(spec.sensors, row, strict=True))
    batches: list[tuple[float, list[Rec]]] = []
    times, assets = stream["t"].to_numpy(float), stream["asset_id"].tolist()
    for j, (t, asset) in enumerate(zip(times.tolist(), assets, strict=True)):
        value = orjson.dumps({"asset_id": asset, "ts": EPOCH + t, "values": values[j]})
        if not batches or batches[-1][0] != t:
            batches.append((t, []))
        # Written to Kafka as it was read (CreateTime), as a gateway sends it.
        batches[-1][1].append(Rec(topic, 0, j, asset.encode(), value, round((EPOCH + t) * 1000), 0))
    return batches


def stream_alerts(
    settings: Settings,
    model: Any,
    batches: list[tuple[float, list[Rec]]],
    *,
    restarts: Sequence[float] = (),
    read_back: bool = False,
) -> tuple[list[tuple[str, float, float]], CollectorRegistry]:
    """Feed ``batches`` to a :class:`~pipeline.processing.BatchProcessor` under ``settings``; each alert
    it opened ``(asset_id, opened_at, resolved_at)`` in simulated seconds (``inf``: still open at the end),
    and the registry of its metrics. At each of ``restarts`` (simulated seconds) the daemon restarts:
    its warm-up state is lost (its alert state carried over whole, as a carry-over would), and, with
    ``read_back``, the batches of the last ``alerts.warmup_s`` are read back into the new one as
    :mod:`pipeline.warmupread` reads them."""
    registry = CollectorRegistry()
    proc = BatchProcessor(settings, model, "bench", PipelineMetrics(registry))
    alerts_topic = settings.kafka.topics.alerts
    spans: list[tuple[str, float, float]] = []
    open_at: dict[str, int] = {}
    times = [t for t, _ in batches]
    due = sorted(restarts)
    for t, batch in batches:
        if due and t >= due[0]:
            _restart(proc, settings, batches, times, t, read_back)
            due = [r for r in due if r > t]
        for message in proc.process(batch, now=EPOCH + t).messages:
            if message.topic != alerts_topic:
                continue
            event = orjson.loads(message.value)
            asset, state = event["asset_id"], event["state"]
            if state == "open":
                open_at[asset] = len(spans)
                spans.append((asset, float(event["ts"]) - EPOCH, np.inf))
            elif asset in open_at and state == "resolved":
                k = open_at.pop(asset)
                spans[k] = (*spans[k][:2], float(event["ts"]) - EPOCH)
    return spans, registry


def _restart(
    proc: BatchProcessor,
    settings: Settings,
    batches: list[tuple[float, list[Rec]]],
    times: list[float],
    t: float,
    read_back: bool,
) -> None:
    """A daemon restart at ``t``: the warm-up state and the sensors' runs (:mod:`pipeline.frozen`)
    start empty, then (``read_back``) the warm-up takes the records of the last ``alerts.warmup_s``
    before ``t``, as :func:`pipeline.warmupread.take_up` does."""
    alerts = settings.alerts
    proc.warmup = WarmUp(alerts.warmup_s, alerts.warmup_after_silence_s, alerts.max_assets)
    # The sensors' runs begin afresh: all of them, where a daemon goes on with those its carried-over
    # episodes said were stuck; the stuck sensors here are found again after as many readings.
    proc.frozen = FrozenSensors(alerts.frozen_sensor_factor, alerts.quiet_s, alerts.max_assets)
    if not read_back:
        return
    notes = ReadingNotes(proc.active)
    first, last = bisect.bisect_left(times, t - alerts.warmup_s), bisect.bisect_left(times, t)
    for _, records in batches[first:last]:
        notes.add(records)
    reached = [0] if first > 0 else []  # a record older than the window lies before it
    notes.note(proc.warmup, reached=reached, lookback_s=alerts.warmup_s)


def tally(
    spans: list[tuple[str, float, float]],
    stream: pd.DataFrame,
    faults: list[Fault],
    starts: dict[str, list[float]],
) -> dict[str, Any]:
    """The alerts ``spans`` against the truth: detections and false alerts (at a start or elsewhere;
    of all false ones, those opened at standstill and those opened while the simulator's truth has
    the machine warming, still cold after a start), and the faults detected, overall and early after
    a start, with the ones missed named (``faults_missed``: asset, kind, hours into the stream)."""
    windows = fault_windows(faults, stream)
    truth = {
        column: stream.loc[stream[column], ["asset_id", "t"]].groupby("asset_id")["t"].agg(set)
        for column in ("standstill", "warming")
    }

    def after_start(asset: str, t: float, within: float) -> bool:
        return any(0.0 <= t - s <= within for s in starts.get(asset, []))

    counts = dict.fromkeys(
        ("alerts_opened", "alerts_in_fault_windows", "false_alerts_at_starts", "false_alerts_elsewhere"), 0
    )
    counts |= {"false_alerts_at_standstill": 0, "false_alerts_while_warming": 0}
    for asset, t, _ in spans:
        counts["alerts_opened"] += 1
        if in_window(windows, asset, t):
            counts["alerts_in_fault_windows"] += 1
            continue
        if after_start(asset, t, START_WINDOW_S):
            counts["false_alerts_at_starts"] += 1
        else:
            counts["false_alerts_elsewhere"] += 1
        for column in ("standstill", "warming"):
            key = "false_alerts_at_standstill" if column == "standstill" else "false_alerts_while_warming"
            counts[key] += t in truth[column].get(asset, set())
    early = [after_start(f.asset_id, f.onset, EARLY_S) for f in faults]
    detected = []
    for f in faults:
        until = max(b for a, b in windows[f.asset_id] if a == f.onset)
        detected.append(any(a == f.asset_id and f.onset <= t <= until for a, t, _ in spans))
    covered = [any(a == f.asset_id and t < f.onset < end for a, t, end in spans) for f in faults]
    missed = [f for f, found in zip(faults, detected, strict=True) if not found]
    counts: dict[str, Any] = counts | {
        "faults": len(faults),
        "faults_detected": sum(detected),
        "early_faults": sum(early),
        "early_faults_detected": sum(d and e for d, e in zip(detected, early, strict=True)),
        "early_faults_begun_under_open_alert": sum(c and e for c, e in zip(covered, early, strict=True)),
        "faults_missed": [f"{f.asset_id} {f.kind} at {f.onset / 3600:.2f} h" for f in missed],
    }
    return counts


def _train(
    history: pd.DataFrame, seed: int, standby: list[str], **overrides: Any
) -> tuple[Any, dict[str, Any]]:
    """The plant model trained on ``history`` (None when refused) and what became of the standby assets."""
    try:
        # No time limit: the benchmark must train the same model on any machine.
        model = train_plant_model(history, seed=seed, fleet={"bench": seed}, time_budget=None, **overrides)
    except ValueError as exc:
        return None, {"trained": False, "refused": str(exc)}
    references = model.metadata_["plant_features"]["references"]
    return model, {
        "trained": True,
        "rows": model.metadata_["rows"],
        "assets_referenced": len(references),
        "standby_assets_referenced": sum(a in references for a in standby),
        "threshold": round(float(model.threshold_), 6),
    }


def run_starts_bench(
    settings: Settings,
    *,
    seed: int = 0,
    assets: int = 24,
    history_hours: float = 24.0,
    minutes: float = 1440.0,
    out: Path | None = None,
    **train_overrides: Any,
) -> int:
    """Train, stream four times (see the module), print the JSON summary (also to
    ``out``); 0 on success, 1 when training was refused. ``train_overrides`` change the plant model's
    settings (the tests' few epochs)."""
    import torch

    torch.set_num_threads(max(1, settings.model.torch_threads))
    started = time.perf_counter()
    history, stream, faults, plan = starts_scenario(
        seed=seed, assets=assets, history_hours=history_hours, hours=minutes / 60.0
    )
    end, standby = float(stream["t"].max()), plan["standby"]
    # A stop that ends with the stream is no start: nothing of the machine is read after it.
    starts = {a: [e for _, e in stops if e < end] for a, stops in plan["stream"].items()}
    ran = ~history.loc[history["asset_id"].isin(standby), "standstill"]
    plant = {
        "standby_assets": standby,
        "standby_running_share_history": round(float(ran.mean()), 3),
        "stops_history": sum(len(s) for s in plan["history"].values()),
        "stops_stream": sum(len(s) for s in plan["stream"].values()),
        "starts_stream": sum(len(s) for s in starts.values()),
    }
    model, training = _train(history, seed, standby, **train_overrides)
    log.info("starts bench: trained (%.0f s so far)", time.perf_counter() - started)
    summary: dict[str, Any] = {
        "settings": {"seed": seed, "assets": assets, "history_hours": history_hours, "minutes": minutes},
        "alerts": settings.alerts.model_dump(
            include={"open_after", "window", "resolve_after", "warmup_s", "warmup_after_silence_s"}
        ),
        "plant": plant,
        "training": training,
        "runs": {},
    }
    if model is not None:
        topic = settings.kafka.topics.input
        # The same plant through a gateway that sends nothing of a machine while it is switched off.
        streams = {"": _batches(stream, topic), "silent_": _batches(stream[~stream["standstill"]], topic)}
        warmup_s, silence_s = settings.alerts.warmup_s, settings.alerts.warmup_after_silence_s
        runs = [
            ("warmup", "", warmup_s, silence_s, {}),
            ("no_warmup", "", 0.0, silence_s, {}),
            ("silent_warmup", "silent_", warmup_s, silence_s, {}),
            ("silent_no_silence_rule", "silent_", warmup_s, 0.0, {}),
            # A daemon restarted RESTART_AFTER_START_S after every start: warm-ups read back, or lost.
            ("restarts_read_back", "", warmup_s, silence_s, {"read_back": True}),
            ("restarts_no_read_back", "", warmup_s, silence_s, {"read_back": False}),
        ]
        restart_at = sorted(e + RESTART_AFTER_START_S for ends in starts.values() for e in ends)
        for name, which, warmup_s, silence_s, restarts in runs:
            changes = {"warmup_s": warmup_s, "warmup_after_silence_s": silence_s}
            run_settings = settings.model_copy(update={"alerts": settings.alerts.model_copy(update=changes)})
            at = restart_at if restarts else []
            spans, registry = stream_alerts(run_settings, model, streams[which], restarts=at, **restarts)
            summary["runs"][name] = (
                {"warmup_s": warmup_s, "warmup_after_silence_s": silence_s}
                | ({"restarts": len(at)} | restarts if restarts else {})
                | tally(spans, stream, faults, starts)
            )
            for metric in ("warming_up", "standstill"):
                value = registry.get_sample_value(f"dhag_readings_{metric}_total") or 0.0
                summary["runs"][name][f"readings_{metric}"] = int(value)
            log.info("starts bench: %s done (%.0f s so far)", name, time.perf_counter() - started)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    emit(summary, out)
    return 0 if model is not None else 1
