"""The adaptive poll size that keeps one batch within the consumer group's poll interval.

Slow batches: the group counts a consumer that does not poll for ``kafka.max_poll_interval_ms`` as
failed, revokes its partitions and refuses its next commit, and the same too-large batch would come back
and fail the same way. :class:`BatchLimit` prevents that loop: after every batch it sets the records the
next poll may return so that a batch takes at most half that interval at the measured cost per record
(lowered at once when a batch takes over a quarter of the interval, raised at most twofold per batch
when it is faster, never above ``kafka.batch_size``), and halves it when
a commit is refused anyway. ``dhag_poll_max_records`` shows the limit in force.
"""

from __future__ import annotations

__all__ = ["POLL_BUDGET_SHARE", "BatchLimit"]

# The share of max_poll_interval_ms one batch may take; the rest is headroom for a slower batch.
POLL_BUDGET_SHARE = 0.5


class BatchLimit:
    """Records per poll that keep one batch's processing time within ``budget_s``.

    Example
    -------
    >>> limit = BatchLimit(1000, budget_s=1.0)
    >>> limit.observe(records=1000, seconds=4.0)  # 4 ms a record: 250 fit in 1 s, with 20% headroom
    200
    >>> limit.observe(records=200, seconds=0.02)  # fast again: grows back, at most twofold a batch
    400
    >>> limit.refused()
    200
    """

    def __init__(self, maximum: int, *, budget_s: float) -> None:
        self.maximum = maximum
        self.budget_s = budget_s
        self.current = maximum

    def observe(self, *, records: int, seconds: float) -> int:
        """Account a batch of ``records`` that took ``seconds``; returns the new limit."""
        if records <= 0:
            return self.current
        per_record = max(seconds, 1e-9) / records
        fits = max(1, min(self.maximum, int(0.8 * self.budget_s / per_record)))
        if seconds > 0.5 * self.budget_s:
            self.current = min(self.current, fits)
        else:
            # Well within the budget: never lower (a small batch's fixed costs overstate the cost per
            # record), raise at most twofold.
            self.current = max(self.current, min(fits, 2 * self.current))
        return self.current

    def make_room(self) -> int:
        """A batch left too little of the poll interval for the look at the positions after it: halve
        the limit (the next batches that are fast raise it again, twofold at most each)."""
        self.current = max(1, self.current // 2)
        return self.current

    def refused(self) -> int:
        """A commit was refused (the group gave up on this consumer): halve the limit."""
        self.current = max(1, self.current // 2)
        return self.current
