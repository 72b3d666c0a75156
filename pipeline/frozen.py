"""A sensor that stops changing: a transmitter stuck at one value while its machine runs.

A stuck transmitter (or a gateway that repeats its last good value) sends one number again and again.
The model scores each reading alone, and a frozen value the process happens to pass near looks normal
to it: on the simulated plant a third of the stuck sensors raised no alert. A running machine's
sensors never read exactly the same for long: their noise and the process move them. So, per asset
and raw sensor, the plant model keeps how long the sensor ever read one value in a row while its
machine ran in the training history (:func:`sensor_runs`: the most readings, and the longest time
they spanned, stored in the model's metadata under :data:`METADATA_KEY`), and the daemon
(:class:`FrozenSensors`) judges a running reading anomalous when one of its sensors has read the same
value for ``factor`` (``alerts.frozen_sensor_factor``) times as many readings **and** as long as that,
and for at least :data:`MIN_READINGS` readings. Both, because a history may come at another rate than
the stream: a history read every 30 s holds few readings in a row but long times, one read every
second the reverse; each bound alone would flag a healthy sensor read at the other rate.

A reading at standstill, a sensor the record left out (imputed) or sent as no number, or a silence
of over ``max_gap_s`` ends a sensor's run; a reading not later than its asset's latest (a batch
delivered again) is not counted twice, and the readings of a batch processed again at once (undone
for want of delivery) are judged as the first time. An alert episode carried over from an earlier
daemon goes on with the runs its open event said were stuck (:meth:`FrozenSensors.seed`); the other
runs begin afresh. An asset the model has no runs for is held to the
longest of the fleet's, sensor by sensor. A model trained without record times, or before this was
kept, has none: nothing is judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["METADATA_KEY", "MIN_READINGS", "FrozenSensors", "frozen_first", "runs_of", "sensor_runs"]

#: Where a model's metadata keeps :func:`sensor_runs`.
METADATA_KEY = "sensor_runs"
#: The fewest readings in a row of one value that can be judged frozen, whatever the history says.
MIN_READINGS = 10


def sensor_runs(history: pd.DataFrame, sensors: Sequence[str], running: np.ndarray) -> dict[str, Any] | None:
    """Per asset and sensor of ``history`` (``asset_id``, ``t`` in seconds and ``sensors`` columns),
    the most readings in a row that read one value while the machine ran (``running``, per row) and
    the longest time such a run spanned, from its first reading to its last; JSON-ready for the
    model's metadata. None when ``history`` has no ``t`` column.

    >>> frame = pd.DataFrame({"asset_id": ["p1"] * 5, "t": [0.0, 30, 60, 90, 120], "flow": [5.0, 5, 5, 6, 6]})
    >>> sensor_runs(frame, ["flow"], np.ones(5, dtype=bool))["assets"]
    {'p1': [[3, 60.0]]}
    """
    if "t" not in history:
        return None
    order = np.lexsort((history["t"].to_numpy(float), history["asset_id"].astype(str).to_numpy()))
    asset_ids = history["asset_id"].astype(str).to_numpy()[order]
    times = history["t"].to_numpy(float)[order]
    ran = np.asarray(running, dtype=bool)[order]
    names, whose = np.unique(asset_ids, return_inverse=True)
    same_asset = np.r_[False, whose[1:] == whose[:-1]]
    table = np.zeros((len(names), len(sensors), 2))
    for k, sensor in enumerate(sensors):
        values = history[sensor].to_numpy(float)[order]
        valid = ran & np.isfinite(values)
        # A reading goes on its predecessor's run when both are valid readings of one asset and value.
        goes_on = same_asset & valid & np.r_[False, valid[:-1]] & np.r_[False, values[1:] == values[:-1]]
        starts = np.flatnonzero(~goes_on)
        ends = np.r_[starts[1:], len(values)] - 1
        counts = np.where(valid[starts], ends - starts + 1, 0)
        spans = np.where(valid[starts], times[ends] - times[starts], 0.0)
        owner = whose[starts]
        np.maximum.at(table[:, k, 0], owner, counts)
        np.maximum.at(table[:, k, 1], owner, spans)
    table[:, :, 0] = np.maximum(table[:, :, 0], 1)
    assets = {
        str(name): [[int(n), float(sec)] for n, sec in table[i].tolist()]
        for i, name in enumerate(names.tolist())
    }
    return {"version": 1, "sensors": list(sensors), "assets": assets}


class _Run:
    __slots__ = ("count", "since", "until", "value")

    def __init__(self, value: float, ts: float) -> None:
        self.value, self.count, self.since, self.until = value, 1, ts, ts


class FrozenSensors:
    """Per asset and raw sensor, the run of readings of one value so far; :meth:`observe` says which
    sensors of each reading are frozen (see the module).

    >>> runs = {"version": 1, "sensors": ["flow"], "assets": {"p1": [[2, 20.0]]}}
    >>> frozen = FrozenSensors(3.0)
    >>> readings = [{"flow": 5.0}] * 12
    >>> out = frozen.observe(runs, ["p1"] * 12, [10.0 * k for k in range(12)], readings, [False] * 12)
    >>> sorted(out), out[11][0]["sensor"], out[11][0]["unchanged_readings"], out[11][0]["unchanged_s"]
    ([9, 10, 11], 'flow', 12, 110.0)
    """

    def __init__(self, factor: float, max_gap_s: float = 300.0, max_assets: int = 100_000) -> None:
        self.factor = float(factor)
        self.max_gap_s = float(max_gap_s)
        #: The most assets whose runs are held (``alerts.max_assets``): past it, a new asset's readings
        #: are not judged here until an asset held falls silent for ``max_gap_s`` (a flood of made-up ids).
        self.max_assets = int(max_assets)
        self._runs: dict[str, dict[str, _Run]] = {}
        self._latest: dict[str, float] = {}
        self._prune_at = -math.inf
        # The limits of a spec, and the runs of a model, cached with the object itself (not its id(),
        # which a model swapped in may take over from the one it replaced).
        self._limits: tuple[Mapping[str, Any], dict[str, Any], list[tuple[float, float]]] | None = None
        self._spec: tuple[Any, Mapping[str, Any] | None] | None = None
        #: Runs of episodes carried over (:meth:`seed`), by asset and sensor, until its next reading.
        self._seeds: dict[str, dict[str, _Run]] = {}
        #: The last call's frozen readings by (asset, ts): the same readings again are judged the same.
        self._memo: dict[tuple[str, float], list[dict[str, Any]]] = {}

    def _limits_of(self, spec: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[float, float]]]:
        """``(per asset, per sensor (readings, seconds) to reach; the fleet's, for other assets)``."""
        if self._limits is None or self._limits[0] is not spec:
            need = [(max(MIN_READINGS, self.factor * n), self.factor * s) for n, s in _fleet(spec)]
            per_asset = {
                asset: [(max(MIN_READINGS, self.factor * n), self.factor * s) for n, s in pairs]
                for asset, pairs in spec["assets"].items()
            }
            self._limits = (spec, per_asset, need)
        return self._limits[1], self._limits[2]

    def observe(
        self,
        spec: Mapping[str, Any] | None,
        assets: Sequence[str],
        stamps: Sequence[float],
        values: Sequence[Mapping[str, Any]],
        still: Sequence[bool],
    ) -> dict[int, list[dict[str, Any]]]:
        """Take the readings (each asset's in time order) and return, by position, the frozen sensors of
        each reading that has any: ``sensor``, ``value``, ``unchanged_readings`` and ``unchanged_s``
        (from the run's first reading). ``spec``: the model's :func:`sensor_runs` (None: nothing is
        judged). A sensor a reading holds as no finite number (left out: imputed) ends its run."""
        if spec is None or not self.factor:
            return {}
        sensors = spec["sensors"]
        per_asset, fleet = self._limits_of(spec)
        self._prune(max((float(t) for t in stamps), default=-math.inf))  # room for the assets heard again
        out: dict[int, list[dict[str, Any]]] = {}
        memo: dict[tuple[str, float], list[dict[str, Any]]] = {}
        for j, (asset, ts) in enumerate(zip(assets, stamps, strict=True)):
            ts = float(ts)
            latest = self._latest.get(asset, -math.inf)
            if ts <= latest:  # delivered again (a batch undone and processed again: judged as then)
                if (said := self._memo.get((asset, ts))) is not None:
                    out[j] = memo[asset, ts] = said
                continue
            runs = self._runs.get(asset)
            if runs is None:
                if len(self._runs) >= self.max_assets:
                    continue
                runs = self._runs[asset] = {}
            if still[j] or ts - latest > self.max_gap_s:
                runs.clear()
            self._latest[asset] = ts
            seeds = self._seeds.pop(asset, {})  # an episode carried over: its first reading goes on
            if still[j]:
                continue
            limits = per_asset.get(asset, fleet)
            for k, sensor in enumerate(sensors):
                value = values[j].get(sensor)
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    runs.pop(sensor, None)
                    continue
                run = runs.get(sensor)
                if run is None and (seed := seeds.get(sensor)) is not None and seed.value == value:
                    run = runs[sensor] = seed
                elif run is None or run.value != value:
                    runs[sensor] = _Run(float(value), ts)
                    continue
                run.count, run.until = run.count + 1, ts
                readings, seconds = limits[k]
                if run.count >= readings and run.until - run.since >= seconds:
                    memo[asset, ts] = out.setdefault(j, [])
                    out[j].append(
                        {
                            "sensor": sensor,
                            "value": run.value,
                            "unchanged_readings": run.count,
                            "unchanged_s": round(run.until - run.since, 3),
                        }
                    )
        self._memo = memo
        return out

    def judge_batch(
        self, active: Any, parsed: Any, rows: np.ndarray, still: np.ndarray
    ) -> dict[int, list[Any]]:
        """:meth:`observe` for the ``rows`` (positions) of a batch the daemon parsed and scored with
        ``active`` (:class:`~pipeline.hotswap.ActiveModel`, whose model's runs are used); by position
        in the batch."""
        if not self.factor or not len(rows):
            return {}
        if self._spec is None or self._spec[0] is not active.model:
            self._spec = (active.model, runs_of(active.model))
        if self._spec[1] is None:
            return {}
        picked = rows.tolist()
        found = self.observe(
            self._spec[1],
            [parsed.asset_ids[j] for j in picked],
            parsed.timestamps[rows].tolist(),
            [parsed.values[j] for j in picked],
            still[rows].tolist(),
        )
        return {picked[k]: entries for k, entries in found.items()}

    def seed(self, episode: Any) -> None:
        """Go on with the runs an open alert ``episode`` (a :class:`~pipeline.alertstate.Transition`)
        carried over from an earlier daemon said were stuck: its open event's ``suspect_sensors`` with
        ``unchanged_readings``, as of its opening reading (record time ``ts``). The asset's next
        reading, whenever it comes, goes on with each such run where it reads the same value, so that a
        sensor stuck across a restart or a rebalance keeps its episode open."""
        context, at = episode.context, episode.ts
        suspects = context[3] if isinstance(context, tuple | list) and len(context) > 3 else None
        asset = episode.asset_id
        for entry in suspects if isinstance(suspects, list) else ():
            if not isinstance(entry, Mapping):
                continue
            count, seconds = entry.get("unchanged_readings"), entry.get("unchanged_s")
            value, sensor = entry.get("value"), entry.get("sensor")
            if isinstance(sensor, str) and all(
                isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                for x in (count, seconds, value, at)
            ):
                run = _Run(float(value), float(at) - float(seconds))
                run.count, run.until = int(count), float(at)
                self._seeds.setdefault(asset, {})[sensor] = run
        while len(self._seeds) > self.max_assets:  # assets carried over that never sent again: the oldest
            del self._seeds[next(iter(self._seeds))]

    def _prune(self, now: float) -> None:
        """Forget the assets without a reading for ``max_gap_s`` (their runs are over); at most once per
        ``max_gap_s``."""
        if now < self._prune_at:
            return
        gone = [a for a, t in self._latest.items() if now - t > self.max_gap_s]
        for asset in gone:
            del self._latest[asset]
            self._runs.pop(asset, None)
        self._prune_at = now + self.max_gap_s


def _fleet(spec: Mapping[str, Any]) -> list[tuple[float, float]]:
    """Per sensor, the longest run of any asset of ``spec`` (readings, seconds)."""
    pairs = np.array(list(spec["assets"].values()), dtype=float).reshape(-1, len(spec["sensors"]), 2)
    if not len(pairs):
        return [(math.inf, math.inf)] * len(spec["sensors"])
    return [(float(n), float(s)) for n, s in pairs.max(axis=0)]


def runs_of(model: Any) -> Mapping[str, Any] | None:
    """The :func:`sensor_runs` stored with ``model`` (None: none kept, or not in a form this reads)."""
    spec = (getattr(model, "metadata_", None) or {}).get(METADATA_KEY)
    if not isinstance(spec, Mapping) or spec.get("version") != 1:
        return None
    sensors, assets = spec.get("sensors"), spec.get("assets")
    if not isinstance(sensors, list) or not isinstance(assets, Mapping):
        return None
    for pairs in assets.values():
        if not isinstance(pairs, list) or len(pairs) != len(sensors):
            return None
        if not all(isinstance(p, list) and len(p) == 2 and all(_number(x) for x in p) for p in pairs):
            return None
    return spec


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def frozen_first(
    frozen: Sequence[Mapping[str, Any]], suspects: Sequence[Mapping[str, Any]], top: int
) -> list[dict[str, Any]]:
    """An alert's ``suspect_sensors``: the ``frozen`` sensors of its opening reading first (each with
    what the model's ``suspects`` of the reading say of it: ``typical_value`` and ``score_if_typical``,
    None where changing it alone does not make the reading look more normal), then the other
    ``suspects``, ``top`` in all or every frozen one.

    >>> frozen = [{"sensor": "flow", "value": 5.0, "unchanged_readings": 12, "unchanged_s": 110.0}]
    >>> suspects = [{"sensor": "head", "value": 2.0}, {"sensor": "flow", "value": 5.0, "typical_value": 4.1}]
    >>> [(e["sensor"], e.get("typical_value")) for e in frozen_first(frozen, suspects, 2)]
    [('flow', 4.1), ('head', None)]
    """
    if not frozen:
        return [dict(entry) for entry in suspects[:top]]
    named = {entry["sensor"]: entry for entry in suspects}
    first = [
        {"sensor": f["sensor"], "value": f["value"], "typical_value": None, "score_if_typical": None}
        | dict(named.get(f["sensor"], {}))
        | {"imputed": False, "unchanged_readings": f["unchanged_readings"], "unchanged_s": f["unchanged_s"]}
        for f in frozen
    ]
    stuck = {f["sensor"] for f in frozen}
    rest = [dict(entry) for entry in suspects if entry["sensor"] not in stuck]
    return first + rest[: max(0, top - len(first))]
