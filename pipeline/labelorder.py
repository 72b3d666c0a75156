"""Which of an alert's labels counts, and which label repeats an earlier one (the label store's rules,
which ``dhag-pipeline alerts`` follows too).

The label that counts for an alert (or a reading) is the last in :func:`in_label_order`. A label that
repeats an earlier answer is recorded once: it is kept in the store's history, marked as a repeat, and
counts nowhere (not in training, not among the labels received, not towards
``retrain.min_new_labels``). A label repeats an earlier one (:func:`repeated`) when it is the same
operator's same answer (``anomaly`` or ``normal``) about the same alert or reading, and

* it is the same message: it carries the same ``label_id`` as that one, or was given at the same time
  (``ts`` for a label by alert, ``labelled_at`` for one by reading): a producer's retry, a console's
  second submit, wherever it lands in the topic, even after another operator's answer;
* or it repeats the answer that counts when it comes: ``dhag-pipeline label`` run again after it
  reported a timeout that still delivered the first, a console that stamps each submit anew.

A label's given time ranks no earlier than :data:`~pipeline.labels.MAX_CLOCK_SKEW_S` before the time its
record was written to Kafka (:func:`given_rank`): a console whose clock is behind would otherwise rank a
correction before the answer it corrects, given on another partition.

An answer that differs from the one that counts is a change: it counts from then on (the store logs
and counts it). An operator who repeats an answer after another one came between is heard again.

A label by reading is about the reading whose time lies within :data:`TS_TOLERANCE_S` of its ``ts``
(:func:`reading_window`): it joins the alert that opened on that reading (:func:`opened_on`), and the
labels of one reading rendered a little apart are one reading's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pipeline.labels import MAX_CLOCK_SKEW_S, Source

__all__ = [
    "TS_TOLERANCE_S",
    "Answer",
    "Taken",
    "answer_of",
    "compare",
    "given_rank",
    "in_label_order",
    "opened_on",
    "reading_window",
    "replaced",
    "repeated",
]

log = logging.getLogger(__name__)

#: How far apart two times of one reading may lie: JSON round trips keep a reading's ``ts`` exact, and
#: this absorbs an ISO-8601 rendering of the same instant (to the millisecond).
TS_TOLERANCE_S = 0.0015


def reading_window(ts: float) -> tuple[float, float]:
    """The times (both ends included) that name the same reading as ``ts``.

    >>> lo, hi = reading_window(1000.0)
    >>> lo <= 1000.0004 <= hi, lo <= 1000.002 <= hi
    (True, False)
    """
    return ts - TS_TOLERANCE_S, ts + TS_TOLERANCE_S


def given_rank(given_at: float, written_at: float | None) -> float:
    """The time a label given at ``given_at`` (by its sender's clock) ranks by, its record written to
    Kafka at ``written_at`` (None or not finite: no Kafka time): never more than
    :data:`~pipeline.labels.MAX_CLOCK_SKEW_S` before that. A label may take a while to reach Kafka; one
    dated further back came from a clock that is behind, and ranked as given it would lose to an
    earlier answer of another partition.

    >>> given_rank(1000.0, 12_000.0), given_rank(1000.0, 1200.0), given_rank(1000.0, None)
    (11700.0, 1000.0, 1000.0)
    """
    if written_at is None or not math.isfinite(written_at):
        return given_at
    return max(given_at, written_at - MAX_CLOCK_SKEW_S)


def opened_on(ts: float, alerts: Iterable[tuple[str, float]]) -> str | None:
    """The alert that opened on the reading at ``ts`` (of the asset whose alerts are given, each ``(id,
    opened_at)`` in the order they were first seen): the earliest opened within :func:`reading_window`,
    the first seen of those opened at once; None when there is none.

    >>> opened_on(1000.001, [("a2", 1000.0012), ("a1", 1000.0), ("a0", 990.0)])
    'a1'
    """
    lo, hi = reading_window(ts)
    near = [(opened, seq, alert_id) for seq, (alert_id, opened) in enumerate(alerts) if lo <= opened <= hi]
    return min(near)[2] if near else None


class Taken(IntEnum):
    """How :meth:`~pipeline.labelstore.LabelStore.add_label` took a label (false: not at all)."""

    REPLAY = 0  # its Kafka position was recorded before: nothing written
    NEW = 1  # recorded, and counts (or ranks before the label that counts)
    CHANGED = 2  # recorded, and replaces another answer as the one that counts
    REPEAT = 3  # recorded in the history as a repeat of an earlier label: counts nowhere


@dataclass(frozen=True)
class Answer:
    """What :func:`repeated` compares: who answered what, when they say they did, and the sender's id."""

    operator: str
    label: str
    given_at: float | None
    label_id: str | None = None


def repeated(answer: Answer, earlier: Iterable[Answer], counting: Answer | None) -> Answer | None:
    """The earlier label (of the same alert or reading) that ``answer`` repeats, or None; ``counting``:
    the label that counts before it comes.

    >>> kim = Answer("kim", "anomaly", 100.0)
    >>> repeated(Answer("kim", "anomaly", 140.0), [kim], kim) == kim  # sent again
    True
    >>> lee = Answer("lee", "normal", 200.0)
    >>> repeated(Answer("kim", "anomaly", 100.0), [kim, lee], lee) == kim  # the same message, late
    True
    >>> repeated(Answer("kim", "anomaly", 300.0), [kim, lee], lee) is None  # answered again
    True
    """

    def same(other: Answer) -> bool:
        return (other.operator, other.label) == (answer.operator, answer.label)

    if counting is not None and same(counting):
        return counting
    for other in earlier:
        if not same(other):
            continue
        if answer.label_id is not None and other.label_id == answer.label_id:
            return other
        if answer.given_at is not None and other.given_at == answer.given_at:
            return other
    return None


def compare(answer: Answer, rows: Sequence[Sequence[Any]]) -> tuple[int | None, Answer | None]:
    """The id of the label ``answer`` repeats (None: none), and the answer that counts before it;
    ``rows``: the labels (not repeats) of its alert or reading in :func:`in_label_order`, each ``(id,
    label, operator, note, given_at, received_at, source, sent_id)``."""
    earlier = {Answer(r[2], r[1], r[4], r[7]): int(r[0]) for r in rows}
    counting = Answer(*(rows[-1][i] for i in (2, 1, 4, 7))) if rows else None
    repeats = repeated(answer, earlier, counting)
    return (None if repeats is None else earlier[repeats]), counting


def answer_of(row: Sequence[Any]) -> Answer:
    """The answer of a stored label row, shaped as :func:`compare` takes them; a label given no time of
    its own (by reading, without ``labelled_at``: stored with the time it was received) has none.

    >>> answer_of((7, "normal", "kim", None, 130.0, 130.0, "labels/1/0", None)).given_at is None
    True
    """
    return Answer(row[2], row[1], None if row[4] == row[5] else row[4], row[7])


def replaced(target: str, answer: Answer, before: Answer) -> None:
    """Log that ``answer`` replaces the answer that counted for ``target`` (an alert or a reading)."""
    log.info(
        "%s: %s's %s replaces %s's %s (the label that counts now)",
        target,
        answer.operator,
        answer.label,
        before.operator,
        before.label,
    )


def in_label_order(
    rows: Sequence[Sequence[Any]], *, given: int, received: int, label_id: int, source: int
) -> list[Sequence[Any]]:
    """Label rows oldest first, so that the last of an alert is the label that counts.

    Labels of one Kafka partition (labels sent by alert id share one: they are keyed by it) keep the
    order they came in, whatever time each operator's console put on them: a label ranks no earlier
    than the one that came before it in its partition. The retrainer reads a partition in offset order,
    and a recreated topic's labels come after the old topic's, whose offsets they may repeat. Labels of
    different partitions (one by alert, one by reading, keyed by asset) rank by the time given, so an
    older verdict read late does not win.

    >>> rows = [(1, 1000.0, 1.0, "labels/0/5"), (2, 880.0, 2.0, "labels/0/6"), (3, 950.0, 2.0, "labels/1/0")]
    >>> [r[0] for r in in_label_order(rows, given=1, received=2, label_id=0, source=3)]
    [3, 1, 2]
    """
    places = [Source.parse(row[source]) for row in rows]

    def came(pair: tuple[Source, Sequence[Any]]) -> tuple[Any, ...]:
        place, row = pair
        return place.topic, place.partition, float(row[received]), int(row[label_id])

    ranked, floor = [], {}
    for seq, (place, row) in enumerate(sorted(zip(places, rows, strict=True), key=came)):
        partition = (place.topic, place.partition)
        rank = max(float(row[given]), floor.get(partition, -math.inf))
        floor[partition] = rank
        ranked.append((rank, seq, row))
    return [row for _, _, row in sorted(ranked, key=lambda item: item[:2])]
