"""Which held-out readings sit too near a label that trains the candidate to judge or calibrate it.

A rejected alert's episode returns to the normal sample: its readings are normal operation. The alert's
own reading trains the candidate ``rejected_weight`` times; its neighbours, nearly the same reading,
would then judge it in a holdout block (or calibrate its threshold) as unseen normal operation, and its
share of normal readings flagged would look better than it is, against a parent that never trained on
them. So a held-out or calibration reading within ``episode_margin_s`` of a rejected alert of its asset
that trains leaves that part (a confirmed one's episode is out of the samples already). A noisy asset's
labels could cover its whole holdout, and the gate would then judge it on nothing: at most half of an
asset's readings in a part leave it, those nearest to a label first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from pipeline.labelstore import LabelledReading

__all__ = ["away_from_taught"]

log = logging.getLogger(__name__)

Reading = tuple[str, float, dict[str, float]]


def away_from_taught(
    rows: Sequence[Reading], taught: Sequence[LabelledReading], margin_s: float
) -> list[Reading]:
    """``rows`` (one held-out or calibration part) less those within ``margin_s`` of a label in
    ``taught`` (the training labels) of their asset: at most half of an asset's rows, nearest first.

    >>> rows = [("p1", float(t), {}) for t in range(0, 100, 10)]
    >>> label = LabelledReading("k", "a1", "p1", 42.0, {}, 0, "kim", 0.0, 1)
    >>> [t for _, t, _ in away_from_taught(rows, [label], 5.0)]
    [0.0, 10.0, 20.0, 30.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    >>> len(away_from_taught(rows, [label], 1000.0))  # half of them stay
    5
    """
    times: dict[str, list[float]] = {}
    for r in taught:
        times.setdefault(r.asset_id, []).append(r.ts)
    if not times or not rows:
        return list(rows)
    at = {a: np.sort(np.array(ts, dtype=float)) for a, ts in times.items()}
    near: dict[str, list[tuple[float, int]]] = {}
    count: dict[str, int] = {}
    for i, (asset, ts, _) in enumerate(rows):
        count[asset] = count.get(asset, 0) + 1
        if (labels := at.get(asset)) is None:
            continue
        j = int(np.searchsorted(labels, ts))
        gap = min(abs(ts - labels[k]) for k in (j - 1, j) if 0 <= k < len(labels))
        if gap <= margin_s:
            near.setdefault(asset, []).append((gap, i))
    out: set[int] = set()
    capped = 0
    for asset, found in near.items():
        room = count[asset] // 2
        capped += max(0, len(found) - room)
        out.update(i for _, i in sorted(found)[:room])
    if capped:
        log.info(
            "%d held-out reading(s) within retrain.episode_margin_s of a training label stay held out:"
            " their assets' labels cover over half of their held-out readings",
            capped,
        )
    return [r for i, r in enumerate(rows) if i not in out]
