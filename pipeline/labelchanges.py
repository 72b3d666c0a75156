"""The changes of answer a label makes as it takes its place among the labels of its alert (or reading).

A label that replaces the answer that counts is a change (:mod:`pipeline.labelorder`). A label may also
take its place before the one that counts: one that waited for its alert while a correction of it was
stored joins ranking by when it came, and a label of another partition ranks by the time it was given.
The changes it makes are counted then, so that every alert's (or reading's) labels count the changes of
answer between neighbours in :func:`~pipeline.labelorder.in_label_order`, whatever order they came in:
the same as they would had they been stored in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.labelorder import Answer, answer_of, replaced

__all__ = ["changes_made", "log_changes"]


def changes_made(rows: Sequence[Sequence[Any]], label_id: int) -> list[tuple[Answer, Answer]]:
    """The changes ``(answer, the answer it replaced)`` that the label ``label_id`` makes by its place
    among ``rows``: the labels (not repeats) of its alert or reading, the label included, in
    :func:`~pipeline.labelorder.in_label_order`, each ``(id, label, operator, note, given_at,
    received_at, source, sent_id)``; none for a label not among them (a repeat).

    Between the labels before and after it, a change was counted as the later came; one that lands
    between two like answers makes two.

    >>> rows = [(1, "anomaly", "kim", None, 100.0, 1.0, "labels/0/0", None),
    ...         (2, "normal", "lee", None, 200.0, 2.0, "labels/0/1", None)]
    >>> [(a.operator, b.operator) for a, b in changes_made(rows, 2)]  # the last: it replaces kim's
    [('lee', 'kim')]
    >>> [(a.operator, b.operator) for a, b in changes_made(rows, 1)]  # kim's, come late: lee's replaces it
    [('lee', 'kim')]
    """
    places = [i for i, row in enumerate(rows) if int(row[0]) == label_id]
    if not places:
        return []
    i = places[0]
    before = answer_of(rows[i - 1]) if i > 0 else None
    after = answer_of(rows[i + 1]) if i + 1 < len(rows) else None
    if before is not None and after is not None and before.label != after.label:
        return []  # one change lies between them whatever it answers, and it was counted
    this = answer_of(rows[i])
    pairs = ((this, before), (after, this))
    return [
        (new, old) for new, old in pairs if new is not None and old is not None and new.label != old.label
    ]


def log_changes(target: str, made: Sequence[tuple[Answer, Answer]]) -> list[str]:
    """Log each change for ``target`` (an alert or a reading); returns their new answers."""
    for new, old in made:
        replaced(target, new, old)
    return [new.label for new, _ in made]
