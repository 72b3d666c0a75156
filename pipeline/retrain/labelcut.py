"""Where :func:`~pipeline.retrain.samples.split` cuts the labelled readings into training and holdout:
the newest ``holdout_fraction`` is held out, but a fault's labels fall on one side of the cut.

An operator may label one fault more than once: its alert and a reading of it a second later, or two
alerts of one episode. Cut between them, a near-identical reading trains the candidate and then judges
it as held out: its held-out recall says more than it knows, and the gate lets through a candidate
it should refuse. So labels of one asset within ``margin_s`` of each other (chained: each within the
margin of the next) are one *fault*, and a fault is held out only when all its labels are past the
cut; one that straddles it trains whole. When that would leave no label held out (every held-out
label belongs to a fault that began before the cut), the newest fault is held out whole instead, so
the gate keeps a label to judge on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pipeline.labelstore import LabelledReading

__all__ = ["cut_labels", "faults"]

log = logging.getLogger(__name__)


def faults(labelled: Sequence[LabelledReading], margin_s: float) -> list[int]:
    """The fault of each of ``labelled`` (sorted by time), numbered from 0: labels of one asset each
    within ``margin_s`` of the one before are one fault.

    >>> rows = [LabelledReading(str(i), None, a, t, {}, 1, "kim", t, i)
    ...         for i, (a, t) in enumerate([("p1", 0.0), ("p2", 1.0), ("p1", 4.0), ("p1", 20.0)])]
    >>> faults(rows, 5.0)
    [0, 1, 0, 2]
    """
    last: dict[str, tuple[float, int]] = {}
    out: list[int] = []
    count = 0
    for r in labelled:
        seen = last.get(r.asset_id)
        if seen is not None and r.ts - seen[0] <= margin_s:
            fault = seen[1]
        else:
            fault, count = count, count + 1
        last[r.asset_id] = (r.ts, fault)
        out.append(fault)
    return out


def cut_labels(
    labelled: Sequence[LabelledReading], k: int, margin_s: float
) -> tuple[list[LabelledReading], list[LabelledReading]]:
    """``labelled`` (sorted by time) as ``(training, holdout)``: the holdout is ``labelled[k:]`` less
    the labels of a fault that has one in ``labelled[:k]``; see the module.

    >>> rows = [LabelledReading(str(i), None, "p1", t, {}, 1, "kim", t, i)
    ...         for i, t in enumerate([0.0, 100.0, 101.0, 500.0])]
    >>> [[r.ts for r in part] for part in cut_labels(rows, 2, 5.0)]
    [[0.0, 100.0, 101.0], [500.0]]
    >>> [[r.ts for r in part] for part in cut_labels(rows[:3], 2, 5.0)]  # the newest fault is held out
    [[0.0], [100.0, 101.0]]
    """
    of = faults(labelled, margin_s)
    trains = set(of[:k])
    if k < len(labelled) and all(f in trains for f in of[k:]):
        trains.discard(of[-1])
    train = [r for r, f in zip(labelled, of, strict=True) if f in trains]
    holdout = [r for r, f in zip(labelled, of, strict=True) if f not in trains]
    to_train = sum(f in trains for f in of[k:])
    if to_train or len(holdout) > len(labelled) - k:
        log.info(
            "labels of one asset within retrain.episode_margin_s of each other are one fault, on one"
            " side of the holdout cut: %d of the newest label(s) train, %d older one(s) held out",
            to_train,
            sum(f not in trains for f in of[:k]),
        )
    return train, holdout
