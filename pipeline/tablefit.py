"""When to rebuild a dict or a set that entries left.

A dict or a set keeps its table as entries go: after a burst of asset ids (a gateway making them up),
the memory, and each walk over it, would keep the burst's size for good. A copy is sized for what it
holds. Copied once it holds under a quarter of the most it held since the last copy, the copy costs no
more than the removals before it did.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, TypeVar

__all__ = ["TableFit"]

T = TypeVar("T", dict[Any, Any], set[Any])


class TableFit:
    """The most entries one table held since it was last rebuilt: :meth:`note` its size before entries
    leave it, then take :meth:`fit`'s answer in its place.

    Example
    -------
    >>> import sys
    >>> fit, table = TableFit(), {f"id-{i}" for i in range(10_000)}
    >>> fit.note(table)
    >>> table -= {f"id-{i}" for i in range(1, 10_000)}
    >>> table = fit.fit(table)
    >>> table, sys.getsizeof(table) < 1000
    ({'id-0'}, True)
    """

    __slots__ = ("peak",)

    def __init__(self) -> None:
        self.peak = 0

    def note(self, table: Sized) -> None:
        """Note the size of the table before entries leave it."""
        self.peak = max(self.peak, len(table))

    def fit(self, table: T) -> T:
        """``table``, or a copy sized for its entries when it holds under a quarter of its peak."""
        if len(table) * 4 < self.peak:
            table, self.peak = type(table)(table), len(table)
        return table
