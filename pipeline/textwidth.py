"""How many terminal columns text takes, for the consoles' tables: an East Asian wide or fullwidth
character takes two (``unicodedata.east_asian_width`` W or F), a combining mark none, any other one
(an ambiguous-width one too, as terminals outside East Asian locales show it)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = ["display_width", "escaped", "table_lines"]


def display_width(text: str) -> int:
    """The columns ``text`` takes in a terminal.

    >>> display_width("pump-1"), display_width("山田"), display_width("Zoe\\u0301")
    (6, 4, 3)
    """
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in text
    )


def escaped(text: str) -> str:
    """``text`` with each character a terminal would act on (a line break, an escape sequence's ESC) written
    as its Python escape, so that a cell stays on its line and the terminal shows what it holds.

    >>> print(escaped("v1\\n\\x1b[2J 山田"))
    v1\\n\\x1b[2J 山田
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def table_lines(rows: Sequence[Sequence[str]], gap: str = "  ") -> list[str]:
    """The rows as lines of aligned columns, each cell padded to its column's widest (trailing spaces
    stripped).

    >>> table_lines([("ID", "WHO"), ("a1", "山田"), ("a22", "lee")])
    ['ID   WHO', 'a1   山田', 'a22  lee']
    """
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        gap.join(cell + " " * (w - display_width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
