"""The ``top_features`` cell of ``dhag score --explain``: ``name:contribution`` entries joined by ``;``,
each name with ``%``, ``;`` and ``:`` written as ``%25``, ``%3B`` and ``%3A`` (percent-encoding), so that
any name reads back exactly: split on ``;``, then on ``:``, and ``urllib.parse.unquote`` the name."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote

from dhag.columns import is_missing

__all__ = ["raising", "read_top_features", "top_features_cell"]

# "%" first: the escapes written for the others must not be escaped again.
_ESCAPES = (("%", "%25"), (";", "%3B"), (":", "%3A"))


def _escaped(name: str) -> str:
    for char, escape in _ESCAPES:
        name = name.replace(char, escape)
    return name


def _contribution(drop: float) -> str:
    """A feature's score drop to four places; one that rounds to zero is ``0.0000``, never ``-0.0000``."""
    return f"{round(float(drop), 4) + 0.0:.4f}"


def raising(entries: Iterable[tuple[str, float, float]]) -> list[tuple[str, float]]:
    """The ``(feature, contribution)`` of ``explain(..., logit_drops=True)``'s entries whose feature
    raises the row's score: its reset to its typical value lowers the score or, where the score stays
    saturated (a drop of 0.0), the network's output. A feature whose reset would raise the score (a
    negative contribution: its value makes the row look more normal) or change nothing is left out; an
    unknown (NaN) contribution is kept, as ``explain`` ranks it, last.

    >>> raising([("flow", 0.4, 2.0), ("temp", 0.0, 0.5), ("load", 0.0, 0.0), ("zone", -0.1, -1.0)])
    [('flow', 0.4), ('temp', 0.0)]
    """
    return [(n, drop) for n, drop, logit in entries if drop > 0 or (drop == 0 and logit > 0) or drop != drop]


def top_features_cell(pairs: Iterable[tuple[str, float]]) -> str:
    """The cell naming a row's ``(feature, score drop)`` pairs, in their order. A name that holds none
    of ``%;:`` is written as it is.

    >>> top_features_cell([("flow_m3h", 0.61234), ("zone:a;b", -0.00001), ("load_%", 0.1)])
    'flow_m3h:0.6123;zone%3Aa%3Bb:0.0000;load_%25:0.1000'
    """
    return ";".join(f"{_escaped(str(name))}:{_contribution(drop)}" for name, drop in pairs)


def read_top_features(cell: object) -> list[tuple[str, float]]:
    """The ``(feature, contribution)`` pairs of a ``top_features`` cell, names as the model knows them
    (an empty cell, a row not flagged: none; so is the NaN that ``pd.read_csv`` reads such a cell as,
    or None, pd.NA).

    >>> read_top_features("flow_m3h:0.6123;zone%3Aa%3Bb:0.0000;load_%25:0.1000")
    [('flow_m3h', 0.6123), ('zone:a;b', 0.0), ('load_%', 0.1)]
    >>> read_top_features(float("nan"))
    []
    """
    if is_missing(cell) or not cell:
        return []
    return [(unquote(name), float(drop)) for name, drop in (entry.split(":") for entry in cell.split(";"))]
