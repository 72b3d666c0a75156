"""What the retrainer trains and judges on: the recent normal sample, the labelled readings and the
parent's reference sample, each cut by time into training, holdout and calibration parts.

* :func:`split` keeps the newest ``holdout_fraction`` of the labelled readings (a fault's labels on one
  side of the cut) and interleaved blocks of
  the recent normal sample and of the parent's *reference sample* for the gate and the threshold (the
  candidate never trains on them);
* :func:`reference_sample` and :func:`carry_forward` keep the reference sample bounded and spread over
  assets and time;
* :class:`NormalSampler` picks which streamed readings join the recent normal sample;
* :func:`rejected_copies` bounds the share of rejected alerts' readings among the normal rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.config import RetrainSettings
from pipeline.labelstore import LabelledReading
from pipeline.retrain.labelcut import cut_labels
from pipeline.retrain.taughtmargin import away_from_taught

__all__ = [
    "NormalSampler",
    "Reading",
    "TrainingData",
    "away_from_faults",
    "carry_forward",
    "reference_picks",
    "reference_sample",
    "rejected_copies",
    "split",
]

log = logging.getLogger(__name__)

# (asset id, epoch seconds, sensor values)
Reading = tuple[str, float, dict[str, float]]


@dataclass(frozen=True)
class TrainingData:
    """The labelled readings and normal readings, each split by time into training and holdout parts."""

    labelled_train: list[LabelledReading]
    labelled_holdout: list[LabelledReading]
    normal_train: list[Reading]
    normal_holdout: list[Reading]
    normal_calibration: list[Reading] = field(default_factory=list)
    reference_train: list[Reading] = field(default_factory=list)
    reference_holdout: list[Reading] = field(default_factory=list)
    reference_calibration: list[Reading] = field(default_factory=list)

    def window(self) -> dict[str, float | None]:
        """The time span of the new data: labels and the recent normal sample (epoch seconds)."""
        times = [r.ts for r in self.labelled_train + self.labelled_holdout]
        times += [r[1] for r in self.normal_train + self.normal_holdout + self.normal_calibration]
        return {"start": min(times) if times else None, "end": max(times) if times else None}

    def counts(self) -> dict[str, int]:
        """Sizes of every part, by label."""

        def n(rows: Sequence[LabelledReading], y: int) -> int:
            return sum(r.y == y for r in rows)

        return {
            "confirmed_train": n(self.labelled_train, 1),
            "rejected_train": n(self.labelled_train, 0),
            "confirmed_holdout": n(self.labelled_holdout, 1),
            "rejected_holdout": n(self.labelled_holdout, 0),
            "normal_train": len(self.normal_train),
            "normal_holdout": len(self.normal_holdout),
            "normal_calibration": len(self.normal_calibration),
            "reference_train": len(self.reference_train),
            "reference_holdout": len(self.reference_holdout),
            "reference_calibration": len(self.reference_calibration),
        }


def split(
    labelled: Sequence[LabelledReading],
    normal: Sequence[Reading],
    holdout_fraction: float,
    *,
    block_s: float = 3600.0,
    reference: Sequence[Reading] = (),
    margin_s: float = 0.0,
) -> TrainingData:
    """Hold out the newest ``holdout_fraction`` of the labelled readings (by time; labels of one asset
    within ``margin_s`` of each other are one fault, on one side of the cut:
    :func:`~pipeline.retrain.labelcut.cut_labels`), and whole blocks of
    ``block_s`` seconds of the normal sample (shorter when the sample spans less than 12 blocks, or
    than 2k): every k-th block, k = 1 / ``holdout_fraction``; every (2k)-th block calibrates the
    candidate's threshold.
    The ``reference`` sample is cut into blocks the same way, over its own time span.

    Normal operation is held out in interleaved blocks rather than as the newest part: the newest hours
    are one part of the load cycle, which a candidate trained on the rest would be judged on unfairly;
    whole blocks keep neighbouring, nearly identical readings on one side. For the same reason no normal
    training reading lies within ``margin_s`` of a held-out labelled reading of its asset: a rejected
    alert's episode returns to the normal sample, and training on it would judge the candidate's false
    alarms on readings it learned. Both rules hold for the reference sample too, and a reading that
    is in both samples trains only if neither holds it out. A labelled reading that trains is in no
    holdout or calibration part of either sample, nor, but for half of an asset's readings there, one
    within ``margin_s`` of a rejected one (:func:`~pipeline.retrain.taughtmargin.away_from_taught`).

    Example
    -------
    >>> normal = [("p1", float(t), {"x": 0.0}) for t in range(0, 240, 5)]
    >>> data = split([], normal, 0.25, block_s=10)
    >>> len(data.normal_train), len(data.normal_holdout), len(data.normal_calibration)
    (30, 12, 6)
    >>> [r[1] for r in data.normal_holdout][:4], [r[1] for r in data.normal_calibration][:4]
    ([30.0, 35.0, 70.0, 75.0], [0.0, 5.0, 80.0, 85.0])
    """
    labelled = sorted(labelled, key=lambda r: (r.ts, r.label_id))
    k = len(labelled) - int(round(holdout_fraction * len(labelled)))
    labelled_train, labelled_holdout = cut_labels(labelled, k, margin_s)
    every = max(2, int(round(1 / holdout_fraction)))
    recent = _blocks(normal, every, block_s)
    carried = _blocks(reference, every, block_s)
    held: dict[str, list[float]] = {}
    for r in labelled_holdout:
        held.setdefault(r.asset_id, []).append(r.ts)
    # The reference carries earlier recent samples forward, on a time grid of its own: a reading may sit
    # in both samples, held out in one. Nothing a candidate is judged or calibrated on trains it.
    # A reading is the same one when asset, time and values match: two runs of one plant (or a replay)
    # may share timestamps.
    judged = {_identity(r) for part in ("holdout", "calibration") for r in recent[part] + carried[part]}
    for sample in (recent, carried):
        sample["train"] = [
            n
            for n in sample["train"]
            if _identity(n) not in judged and not any(abs(n[1] - t) <= margin_s for t in held.get(n[0], ()))
        ]
    # A labelled reading that trains is not judged or calibrated on either: a rejected alert's episode
    # returns to the normal sample, its opening reading with it when sampled.
    taught: dict[tuple[str, float], list[dict[str, float]]] = {}
    for r in labelled_train:
        taught.setdefault((r.asset_id, r.ts), []).append(r.values)
    for sample in (recent, carried):
        for part in ("holdout", "calibration"):
            sample[part] = [
                n for n in sample[part] if not any(_same(v, n[2]) for v in taught.get((n[0], n[1]), ()))
            ]
            # Nor a rejected one's neighbours: its episode is in the normal sample (a confirmed one's is
            # not: normal_sample and away_from_faults leave it out).
            sample[part] = away_from_taught(sample[part], [r for r in labelled_train if r.y == 0], margin_s)
    return TrainingData(
        labelled_train,
        labelled_holdout,
        recent["train"],
        recent["holdout"],
        recent["calibration"],
        carried["train"],
        carried["holdout"],
        carried["calibration"],
    )


def away_from_faults(
    rows: Sequence[Reading],
    labelled: Sequence[LabelledReading],
    margin_s: float,
    *,
    episodes: Mapping[str, tuple[float, float]] | None = None,
) -> list[Reading]:
    """``rows`` but those within ``margin_s`` of a fault of their asset that an operator confirmed: of
    the whole episode of a confirmed alert whose window ``episodes`` gives (alert id: its first and
    last reading's times, :meth:`~pipeline.normalsample.NormalSample.confirmed_episodes`), else of the
    confirmed reading (labelled by reading, or an alert the store forgot). The store's normal sample
    leaves them out as they are labelled; the parent's reference sample was drawn before, and would
    train the candidate on a confirmed fault as normal operation (and judge it there) while the label
    trains it as a known anomaly.

    >>> rows = [("p1", float(t), {}) for t in range(0, 50, 10)] + [("p2", 20.0, {})]
    >>> fault = LabelledReading("k", None, "p1", 21.0, {}, 1, "kim", 0.0, 1)
    >>> [(a, t) for a, t, _ in away_from_faults(rows, [fault], 5.0)]
    [('p1', 0.0), ('p1', 10.0), ('p1', 30.0), ('p1', 40.0), ('p2', 20.0)]
    >>> alert = LabelledReading("alert:a1", "a1", "p1", 10.0, {}, 1, "kim", 0.0, 2)
    >>> [(a, t) for a, t, _ in away_from_faults(rows, [alert], 5.0, episodes={"a1": (10.0, 28.0)})]
    [('p1', 0.0), ('p1', 40.0), ('p2', 20.0)]
    """
    episodes = episodes or {}
    windows: dict[str, list[tuple[float, float]]] = {}
    for r in labelled:
        if r.y == 1:
            known = episodes.get(r.alert_id) if r.alert_id is not None else None
            start, end = known or (r.ts, r.ts)
            # The window holds the labelled reading whatever the store says of its episode.
            low, high = min(start, r.ts) - margin_s, max(end, r.ts) + margin_s
            windows.setdefault(r.asset_id, []).append((low, high))
    if not windows:
        return list(rows)
    merged = {a: _merged(ws) for a, ws in windows.items()}

    def near(asset: str, ts: float) -> bool:
        if (at := merged.get(asset)) is None:
            return False
        i = int(np.searchsorted(at[0], ts, side="right")) - 1
        return i >= 0 and ts <= at[1][i]

    return [r for r in rows if not near(r[0], r[1])]


def _merged(windows: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """``windows`` ``(low, high)`` merged where they overlap: their starts and ends, in order.

    >>> _merged([(5.0, 9.0), (0.0, 2.0), (1.0, 3.0)])
    (array([0., 5.]), array([3., 9.]))
    """
    starts: list[float] = []
    ends: list[float] = []
    for low, high in sorted(windows):
        if ends and low <= ends[-1]:
            ends[-1] = max(ends[-1], high)
        else:
            starts.append(low)
            ends.append(high)
    return np.array(starts), np.array(ends)


def _same(labelled: dict[str, float], values: dict[str, float]) -> bool:
    """Whether a labelled reading's ``labelled`` values are a sampled reading's ``values`` of the same
    asset and time: equal on every sensor both carry (an alert holds a sensor it lacked as null).

    >>> _same({"x": 1.0, "y": None}, {"x": 1.0}), _same({"x": 1.0}, {"x": 2.0}), _same({}, {"x": 1.0})
    (True, False, False)
    """
    common = [name for name, v in labelled.items() if v is not None and name in values]
    return bool(common) and all(labelled[name] == values[name] for name in common)


def _identity(reading: Reading) -> tuple[str, float, tuple[tuple[str, float], ...]]:
    return reading[0], reading[1], tuple(sorted(reading[2].items()))


def _blocks(rows: Sequence[Reading], every: int, block_s: float) -> dict[str, list[Reading]]:
    """``rows`` by time into train / holdout (every ``every``-th block) / calibration (every
    (2 ``every``)-th block)."""
    rows = sorted(rows, key=lambda r: r[1])
    start = rows[0][1] if rows else 0.0
    # A sample shorter than a dozen blocks, or than two rounds of ``every``, is cut into that many, so
    # every part gets some of it (with k = 20, a day of hourly blocks held none out).
    span = rows[-1][1] - start if rows else 0.0
    block_s = min(block_s, span / max(12, 2 * every)) if span > 0 else block_s
    parts: dict[str, list[Reading]] = {"train": [], "holdout": [], "calibration": []}
    for r in rows:
        b = int((r[1] - start) // block_s)
        part = "holdout" if b % every == every - 1 else "calibration" if b % (2 * every) == 0 else "train"
        parts[part].append(r)
    return parts


def reference_sample(rows: Sequence[Reading], size: int) -> list[Reading]:
    """At most ``size`` of ``rows``, spread evenly over assets (equal shares, a small asset's unused
    share going to the others) and, within an asset, evenly over time; oldest first.

    Example
    -------
    >>> rows = [(a, float(t), {}) for t in range(100) for a in ("p1", "p2")] + [("p3", 5.0, {})]
    >>> picked = reference_sample(rows, 11)
    >>> [sum(r[0] == a for r in picked) for a in ("p1", "p2", "p3")]
    [5, 5, 1]
    >>> [r[1] for r in picked if r[0] == "p1"]
    [0.0, 25.0, 50.0, 74.0, 99.0]
    """
    picks = reference_picks([r[0] for r in rows], np.array([r[1] for r in rows], dtype=float), size)
    return [rows[i] for i in picks]


def reference_picks(assets: Sequence[str], times: np.ndarray, size: int) -> list[int]:
    """The positions :func:`reference_sample` keeps of rows with these ``assets`` and ``times``, in its
    order: a history of millions of rows need not become readings to be sampled.

    >>> reference_picks(["p1", "p2", "p1", "p1"], np.array([9.0, 1.0, 3.0, 5.0]), 3)
    [1, 2, 0]
    """
    if not len(assets):
        return []
    names = np.asarray(assets, dtype=str)
    order = np.lexsort((np.asarray(times, dtype=float), names))  # by asset, then time; stable
    sorted_names = names[order]
    starts = np.flatnonzero(np.r_[True, sorted_names[1:] != sorted_names[:-1]])
    bounds = dict(
        zip(
            sorted_names[starts].tolist(),
            zip(starts, np.r_[starts[1:], len(order)], strict=True),
            strict=True,
        )
    )
    count = {asset: int(end - start) for asset, (start, end) in bounds.items()}
    quota: dict[str, int] = {}
    left, pending = max(0, size), sorted(count, key=lambda a: (count[a], a))
    while pending:
        share = left // len(pending)
        asset = pending.pop(0)
        quota[asset] = min(count[asset], share + (1 if left - share * (len(pending) + 1) > 0 else 0))
        left -= quota[asset]
    out: list[int] = []
    for asset, (start, end) in bounds.items():
        if n := quota[asset]:
            picks = np.unique(np.round(np.linspace(0, end - start - 1, n)).astype(int))
            out += order[start + picks].tolist()
    return sorted(out, key=lambda i: (float(times[i]), str(names[i])))


def carry_forward(reference: Sequence[Reading], recent: Sequence[Reading], size: int) -> list[Reading]:
    """The reference sample a candidate is published with: the parent's ``reference`` and the ``recent``
    normal sample, at most ``size`` readings, of which at most half (more when the carried sample is
    small) recent, so older operating conditions are never pushed out by a few recent hours."""
    n_recent = min(len(recent), max(size // 2, size - len(reference)))
    return sorted(
        reference_sample(reference, size - n_recent) + reference_sample(recent, n_recent),
        key=lambda r: (r[1], r[0]),
    )


_MAX_COUNTED_ASSETS = 100_000


class NormalSampler:
    """Picks one reading in ``every`` of each asset (its first, then every ``every``-th).

    Counting per asset, not per stream position, keeps every asset in the sample: a stream that repeats
    the assets in a fixed order would otherwise sample only those whose place shares the stride.

    Example
    -------
    >>> sampler = NormalSampler(2)
    >>> [sampler.take(a) for a in ["p1", "p2", "p1", "p2", "p1", "p2"]]
    [True, True, False, False, True, True]
    """

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.every = every
        self._seen: dict[str, int] = {}

    def take(self, asset_id: str) -> bool:
        """Whether this reading of ``asset_id`` joins the sample."""
        n = self._seen.get(asset_id, 0)
        if not n and len(self._seen) >= _MAX_COUNTED_ASSETS:
            self._seen.clear()  # ids that came and went over the months: only the phase restarts
        self._seen[asset_id] = n + 1
        return n % self.every == 0


def rejected_copies(
    rejected: Sequence[LabelledReading], normal_rows: int, settings: RetrainSettings
) -> tuple[list[LabelledReading], int]:
    """The rejected alerts that train, and how many copies of each: ``rejected_weight``, fewer when they
    would make up more than ``rejected_max_share`` of the normal training rows; when even one copy each
    would, only the newest that fit. Without it, a year of answers outweighed the normal readings 35 to
    one, and every run trained longer.

    >>> rows = [LabelledReading(str(i), None, "p", 0.0, {}, 0, "k", 0.0, i) for i in range(40)]
    >>> kept, copies = rejected_copies(rows[:5], 3000, RetrainSettings())  # 50 copies: room for 1000
    >>> len(kept), copies
    (5, 10)
    >>> kept, copies = rejected_copies(rows, 300, RetrainSettings())  # room for 100: 2 copies of 40
    >>> len(kept), copies
    (40, 2)
    >>> kept, copies = rejected_copies(rows, 60, RetrainSettings())  # room for 20: the newest 20, once
    >>> [r.label_id for r in kept][:3], copies
    ([20, 21, 22], 1)
    """
    share = settings.rejected_max_share
    room = int(share / (1.0 - share) * normal_rows)  # copies / (normal_rows + copies) <= share
    if not rejected or room < 1:
        return [], 0
    copies = max(1, min(settings.rejected_weight, room // len(rejected)))
    kept = (
        sorted(rejected, key=lambda r: r.label_id)[-room:]
        if copies * len(rejected) > room
        else list(rejected)
    )
    if len(kept) < len(rejected) or copies < settings.rejected_weight:
        log.info(
            "%d of %d rejected alerts train, %d copies each (rejected_max_share %.2f of %d normal rows)",
            *(len(kept), len(rejected), copies, share, normal_rows),
        )
    return kept, copies
