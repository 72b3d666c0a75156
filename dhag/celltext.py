"""The forms a cell's text takes that Python does not read as a number, but a person does: digits
grouped as a locale writes them (``1,257``, ``1 257``, ``1.234,5``), and a time (``2026-01-01 10:00``,
``01/02/2026 10:00``, ``10:00:05``), as a CSV holds them."""

from __future__ import annotations

import re

__all__ = ["plain_number", "separated_number", "time_text"]

# Thousands grouped by a comma (1,234.5), a space, a no-break space or an apostrophe (1 234,5, 1'234.5),
# or a dot beside a decimal comma (1.234,5, 1.234.567); a decimal comma alone (0,25).
_SEPARATED = re.compile(
    r"[+-]?(\d{1,3}(,\d{3})+(\.\d*)?|\d{1,3}([ '\u00a0\u202f\u2019]\d{3})+([.,]\d*)?"
    r"|\d{1,3}(\.\d{3})+,\d*|\d{1,3}(\.\d{3}){2,}|\d+,\d+)"
)

# A date (2026-01-31, 2026/01/31, 31/01/2026, 01.31.2026), with or without a time of day (T10:00,
# 10:00:05.25, 10:00 PM, a zone Z or +01:00), or a time of day alone.
_CLOCK = r"\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?(\s?[AaPp][Mm])?(\s?(Z|UTC|[+-]\d{2}(:?\d{2})?))?"
_TIME = re.compile(
    rf"(\d{{4}}[-/]\d{{1,2}}[-/]\d{{1,2}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{4}})([T ]{_CLOCK})?|{_CLOCK}"
)


def plain_number(text: str) -> bool:
    """Whether Python's ``float`` reads ``text`` as a number (``inf`` and ``nan`` too)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def separated_number(text: str) -> bool:
    """``1,257``, ``-12,345,678.5``, ``0,25``, ``1 257``, ``1'257.5`` or ``1.234,5``: digits a comma, a
    space, an apostrophe or a dot beside a decimal comma splits, that a locale writes as a number."""
    return bool(_SEPARATED.fullmatch(text.strip()))


def time_text(text: str) -> bool:
    """Whether ``text`` is a date or a time as a CSV holds it, which is read as text.

    >>> [time_text(t) for t in ("2026-01-31T10:00:05Z", "31/01/2026 10:00", "10:00", "2026-01-31")]
    [True, True, True, True]
    >>> [time_text(t) for t in ("north", "12", "1.234.567", "10:00 north")]
    [False, False, False, False]
    """
    return bool(_TIME.fullmatch(text.strip()))
