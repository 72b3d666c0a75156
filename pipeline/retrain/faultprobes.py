"""Gross faults made from held-out normal readings: the one detection check of the retrain gate that
needs no label (:func:`fault_probes`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dhag.health import PUSH_RANGE

__all__ = ["fault_probes"]


def fault_probes(
    rows: Sequence[tuple[str, dict[str, float]]],
    sensors: Sequence[str],
    *,
    limit: int = 1000,
    reads: Callable[[list[tuple[str, dict[str, float]]]], np.ndarray] | None = None,
) -> list[tuple[str, dict[str, float]]]:
    """Gross faults made from held-out normal readings: each of up to ``limit`` readings (a seeded
    choice, the same for every model) with one of ``sensors`` pushed up or down by 6 to 9 of that
    sensor's standard deviations over ``rows``. No label says what a fault looks like, so these stand in
    for one where no confirmed anomaly is held out: a candidate that stopped flagging them (a threshold
    of 1, a network that scores every row alike) is refused however quiet it is on normal readings.
    With ``reads`` (readings -> the model's input matrix), a sensor the model's input does not depend
    on is never pushed (the plant model leaves the winding temperature out): no model could see it.

    >>> rows = [("p1", {"flow": 10.0 + i % 3, "temp": 50.0}) for i in range(30)]
    >>> probes = fault_probes(rows, ["flow", "temp"])
    >>> len(probes), all(abs(v["flow"] - 11) > 4 and v["temp"] == 50.0 for _, v in probes)
    (30, True)
    >>> rows = [("p1", {"flow": 10.0 + i % 3, "temp": 50.0 + i % 2}) for i in range(30)]
    >>> reads_flow = lambda readings: np.array([[v["flow"]] for _, v in readings])
    >>> all(v["temp"] in (50.0, 51.0) for _, v in fault_probes(rows, ["flow", "temp"], reads=reads_flow))
    True
    """
    complete = [(a, v) for a, v in rows if all(v.get(s) is not None for s in sensors)]
    if len(complete) < 2 or not sensors:
        return []
    values = np.array([[float(v[s]) for s in sensors] for _, v in complete])
    spread = values.std(axis=0)
    usable = np.flatnonzero(np.isfinite(spread) & (spread > 0))
    if reads is not None:
        sample = complete[:8]
        unpushed = reads(sample)

        def moves(j: int) -> bool:
            pushed = reads([(a, v | {sensors[j]: float(v[sensors[j]]) + 8.0 * spread[j]}) for a, v in sample])
            # A reading the push takes in or out of what the model reads (a stop) moves it too.
            return pushed.shape != unpushed.shape or not np.allclose(pushed, unpushed)

        usable = np.array([j for j in usable.tolist() if moves(j)], dtype=int)
    if usable.size == 0:
        return []
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(complete), size=min(limit, len(complete)), replace=False)
    probes = []
    for i in sorted(chosen.tolist()):
        asset, reading = complete[i]
        j = int(rng.choice(usable))
        push = rng.uniform(*PUSH_RANGE) * spread[j] * rng.choice([-1.0, 1.0])
        probes.append((asset, reading | {sensors[j]: float(reading[sensors[j]]) + push}))
    return probes
