"""The forms a cell's text takes that Python does not read as a number, but a person does: digits
grouped as a locale writes them (``1,257``, ``1 257``, ``1.234,5``)."""

from __future__ import annotations

import re

__all__ = ["plain_number", "separated_number"]

# Thousands grouped by a comma (1,234.5), a space, a no-break space or an apostrophe (1 234,5, 1'234.5),
# or a dot beside a decimal comma (1.234,5, 1.234.567); a decimal comma alone (0,25).
_SEPARATED = re.compile(
    r"[+-]?(\d{1,3}(,\d{3})+(\.\d*)?|\d{1,3}([ '\u00a0\u202f\u2019]\d{3})+([.,]\d*)?"
    r"|\d{1,3}(\.\d{3})+,\d*|\d{1,3}(\.\d{3}){2,}|\d+,\d+)"
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
