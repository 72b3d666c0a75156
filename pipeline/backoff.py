"""Capped exponential backoff for infrastructure retries, and log lines limited to one per interval."""

from __future__ import annotations

import logging
import time

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
    """Log a recurring failure at most once per ``interval_s`` per key, counting the ones held back."""

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, key: str, level: int, message: str, *args: object, exc_info: bool = False) -> None:
        """Emit ``message`` (with the exception being handled, by ``exc_info``) unless ``key`` was
        logged less than ``interval_s`` ago."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        suffix = f" ({held} similar message(s) held back)" if held else ""
        self._last[key] = now
        self.logger.log(level, message + suffix, *args, exc_info=exc_info)
