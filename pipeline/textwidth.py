"""How many terminal columns text takes, for the consoles' tables: an East Asian wide or fullwidth
character takes two (``unicodedata.east_asian_width`` W or F), a combining mark none, an
ambiguous-width one (A: ``°``, ``é``, ``…``, Greek and Cyrillic letters) two in a terminal of a
Chinese, Japanese or Korean locale and one elsewhere (:func:`ambiguous_width`), any other one."""

from __future__ import annotations

import locale
import unicodedata
from collections.abc import Sequence

__all__ = ["ambiguous_width", "display_width", "escaped", "table_lines"]

#: The languages whose terminals give a character of ambiguous East Asian Width two columns.
_CJK = ("zh", "ja", "ko")


def ambiguous_width(locale_name: str | None = None) -> int:
    """The columns a character of ambiguous East Asian Width takes in this process's terminal: two in a
    Chinese, Japanese or Korean locale (``locale_name``, default: the character type locale Python took
    from the environment at its start, ``LC_ALL``, ``LC_CTYPE`` or ``LANG``), else one.

    >>> ambiguous_width("ja_JP.UTF-8"), ambiguous_width("en_GB.UTF-8"), ambiguous_width("C.UTF-8")
    (2, 1, 1)
    """
    if locale_name is None:
        try:
            locale_name = locale.setlocale(locale.LC_CTYPE)  # asks, changes nothing
        except locale.Error:
            return 1
    return 2 if locale_name.lower().startswith(_CJK) else 1


def display_width(text: str, ambiguous: int = 1) -> int:
    """The columns ``text`` takes in a terminal (``ambiguous``: those a character of ambiguous width takes).

    >>> display_width("pump-1"), display_width("山田"), display_width("Zoe\\u0301"), display_width("°C", 2)
    (6, 4, 3, 3)
    """
    if text.isascii():
        return len(text)
    return sum(_columns(c, ambiguous) for c in text)


def _columns(c: str, ambiguous: int) -> int:
    if unicodedata.combining(c):
        return 0
    kind = unicodedata.east_asian_width(c)
    return 2 if kind in ("W", "F") else ambiguous if kind == "A" else 1


def escaped(text: str) -> str:
    """``text`` with each character a terminal would act on (a line break, an escape sequence's ESC) written
    as its Python escape, so that a cell stays on its line and the terminal shows what it holds.

    >>> print(escaped("v1\\n\\x1b[2J 山田"))
    v1\\n\\x1b[2J 山田
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def table_lines(rows: Sequence[Sequence[str]], gap: str = "  ", ambiguous: int = 1) -> list[str]:
    """The rows as lines of aligned columns, each cell padded to its column's widest (trailing spaces
    stripped; ``ambiguous``: the columns a character of ambiguous width takes).

    >>> table_lines([("ID", "WHO"), ("a1", "山田"), ("a22", "lee")])
    ['ID   WHO', 'a1   山田', 'a22  lee']
    """
    widths = [max(display_width(row[i], ambiguous) for row in rows) for i in range(len(rows[0]))]
    return [
        gap.join(
            cell + " " * (w - display_width(cell, ambiguous)) for cell, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
