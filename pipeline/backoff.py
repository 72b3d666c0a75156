"""Capped exponential backoff for infrastructure retries, and log lines limited to one per interval."""

from __future__ import annotations

import logging
import threading
import time
import weakref

from pipeline.tablefit import TableFit

__all__ = ["Backoff", "ThrottledLog"]


class Backoff:
    """Delays ``initial, 2*initial, 4*initial, ...`` capped at ``maximum``; ``reset`` after a success.

    Example
    -------
    >>> b = Backoff(0.5, 2.0)
    >>> [b.next_delay() for _ in range(4)]
    [0.5, 1.0, 2.0, 2.0]
    """

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        """The delay to wait now; doubles the following one up to the cap."""
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return delay

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._next = self.initial


class ThrottledLog:
    """Log a recurring failure at most once per ``interval_s`` per key, counting the ones held back.

    The count is said with the key's next line, or by :meth:`flush` once the interval has passed
    without one (every log's: :meth:`flush_all`, which the daemon and the retrainer call as they turn
    and as they stop).

    Example
    -------
    >>> import sys
    >>> logger = logging.getLogger("pipeline.example.throttled")
    >>> logger.propagate, logger.level = False, logging.INFO
    >>> logger.addHandler(logging.StreamHandler(sys.stdout))
    >>> throttled = ThrottledLog(logger, 60.0)
    >>> for offset in (7, 8, 9):
    ...     throttled.log("bad", logging.WARNING, "record at %d refused", offset)
    record at 7 refused
    >>> throttled.flush(final=True)
    2 more like this were held back (the last: record at 9 refused)
    """

    _every: weakref.WeakSet[ThrottledLog] = weakref.WeakSet()
    _every_lock = threading.Lock()

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._latest: dict[str, tuple[int, str, tuple[object, ...]]] = {}  # the last held back, by key
        self._fit = TableFit()  # _last, rebuilt once a burst of keys has left it (flush)
        with ThrottledLog._every_lock:
            ThrottledLog._every.add(self)

    def log(self, key: str, level: int, message: str, *args: object, exc_info: bool = False) -> None:
        """Emit ``message`` (with the exception being handled, by ``exc_info``) unless ``key`` was
        logged less than ``interval_s`` ago."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            self._latest[key] = (level, message, args)
            return
        held = self._held.pop(key, 0)
        self._latest.pop(key, None)
        suffix = f" ({held} similar message(s) held back)" if held else ""
        self._last[key] = now
        self.logger.log(level, message + suffix, *args, exc_info=exc_info)

    def flush(self, *, final: bool = False) -> None:
        """Say how many lines of each key were held back, once ``interval_s`` has passed since its last
        line (with ``final``, at once: the process stops, and no later line would say it). A key whose
        window has passed is forgotten (its next line is said as a first one would be): keys taken from
        records (a label's unknown field names) would otherwise stay for the process's life."""
        now = time.monotonic()
        self._fit.note(self._last)
        for key, last in list(self._last.items()):
            passed = now - last >= self.interval_s
            if (final or passed) and (held := self._held.pop(key, 0)):
                level, message, args = self._latest.pop(key)
                text = f"{held} more like this were held back (the last: {message})"
                self.logger.log(level, text, *args)
            if passed:
                del self._last[key]
        self._last = self._fit.fit(self._last)

    @classmethod
    def flush_all(cls, *, final: bool = False) -> None:
        """:meth:`flush` every throttled log of the process."""
        with cls._every_lock:
            every = list(cls._every)
        for throttled in every:
            throttled.flush(final=final)
