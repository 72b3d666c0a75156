"""dhag's notes on the threshold a candidate's fit calibrates, held while the retrainer fits it.

``fit`` sets a threshold from its own random slice of the training rows and warns when that slice is
too small to place it (:func:`dhag.health.warn_small_calibration`). The retrainer replaces that
threshold with one from unseen blocks of normal operation
(:func:`~pipeline.retrain.training._recalibrate`, which warns of those when they are too few), so the
note is false of the candidate it publishes: said at every run while the normal sample is small, it
taught operators to read past the warnings. It is held, from the fitting thread alone, and said after
all (:meth:`HeldNotes.release`) where the recalibration does not happen and fit's threshold stands.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from dhag import health

__all__ = ["HeldNotes", "held_calibration_notes"]


class HeldNotes(logging.Filter):
    """Holds the fitting thread's calibration notes (a filter on dhag's logger while it is fitted)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread == self.thread and record.funcName == health.warn_small_calibration.__name__:
            self.held.append(record)
            return False
        return True

    def release(self) -> None:
        """Say the held notes: fit's threshold stands."""
        held, self.held = self.held, []
        for record in held:
            health.logger.handle(record)


@contextlib.contextmanager
def held_calibration_notes() -> Iterator[HeldNotes]:
    """Within: dhag's notes on fit's own calibration, logged from this thread, are held, not said."""
    notes = HeldNotes()
    health.logger.addFilter(notes)
    try:
        yield notes
    finally:
        health.logger.removeFilter(notes)
