"""An operator's name as the labels contract takes it (:mod:`pipeline.labels`), and what it refuses in one.

The name is kept composed (NFC), without spaces around it and with a run of spaces inside, of any width,
as one. What it holds is checked before its length: a name holding a control character, a line break or
an invisible character (zero-width, a direction mark) is refused for that, whatever its length, so that
shortening it is never the advice; then the name kept may be at most :data:`MAX_OPERATOR` characters.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_OPERATOR", "operator_name", "unnamed_character"]

#: The longest ``operator`` a label may give (characters of the name kept).
MAX_OPERATOR = 128

# Whitespace a name may not hold (control characters, line and paragraph separators): only spaces
# (Unicode's space separators) are taken, as one.
_NOT_SPACES = frozenset({"Cc", "Zl", "Zp"})
_KINDS = {
    "Cc": "a control character",
    "Zl": "a line break",
    "Zp": "a line break",
    "Cf": "an invisible character",
}


def operator_name(operator: str) -> str:
    """``operator`` as the contract keeps it: composed, without spaces around it, a run inside as one.

    >>> operator_name("  山田\\u3000 太郎 "), len(operator_name(" " + "k" * 129 + " "))
    ('山田 太郎', 129)
    """
    return " ".join(unicodedata.normalize("NFC", operator).split())


def unnamed_character(operator: str) -> str | None:
    """Where ``operator`` holds the first character a name may not hold, in words (counted from 1, as
    given), or None when it holds none: a name that holds one is refused for it first.

    >>> print(unnamed_character(" kim\\x07"), unnamed_character(" kim lee "))
    '\\x07' (a control character) at character 5 None
    >>> print(unnamed_character("kim\\u200b"))
    '\\u200b' (an invisible character) at character 4
    """
    for place, char in enumerate(operator, 1):
        kind = unicodedata.category(char)
        if kind in _NOT_SPACES or not (char.isprintable() or char.isspace()):
            return f"{char!r} ({_KINDS.get(kind, 'a character that does not print')}) at character {place}"
    return None
