"""What a refusal of input columns that are not the training features says: which are missing, which
unexpected, and what each name is near; and so of columns a setting or an option names that the input
does not hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dhag.columns import _preview

__all__ = ["names_mismatch", "near_names", "not_columns"]


def names_mismatch(
    expected: Sequence[str], names: Sequence[str], index: Sequence[Any] = (), *, array_hint: bool = True
) -> str:
    """The refusal of input columns ``names`` that are not the training features ``expected`` (a
    missing one among ``index``, the names of a frame's index, said to be there); empty when they are
    the same names, in whatever order. Where the model was fitted on an array (its features ``x0``,
    ``x1``, ...) and as many columns are given, ``array_hint`` says how to score them by position.

    >>> names_mismatch(["flow", "temp"], ["temp", "flow"])
    ''
    >>> for part in names_mismatch(["flow", "temp"], ["Flow", "temp"]).split("; "):
    ...     print(part)
    Input features do not match the 2 training features: missing 'flow'
    unexpected 'Flow'
    'Flow' is 'flow' in another case: names must match the training's exactly.
    """
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if not (missing or extra):
        return ""
    parts = []
    if missing:
        parts.append(f"missing {_preview(missing)}")
    if extra:
        parts.append(f"unexpected {_preview(extra)}")
    if near := near_names(extra, missing):
        parts.append(f"{near}: names must match the training's exactly")
    if indexed := [n for n in missing if n in {str(i) for i in index if i is not None}]:
        one = len(indexed) == 1
        parts.append(
            f"{_preview(indexed)} {'is' if one else 'are'} in the frame's index: frame.reset_index() "
            f"makes {'it a column' if one else 'them columns'}"
        )
    positional = [f"x{i}" for i in range(len(expected))]
    if array_hint and len(names) == len(expected) and list(expected) == positional:
        # An array's columns have no names: the model's are x0, x1, ..., which no frame of the user's holds.
        parts.append(
            "the model was fitted on an array, whose columns it names x0, x1, ... by position: score "
            "frame.to_numpy() where the frame holds them in the training order, or fit on the frame to "
            "match its columns by name"
        )
    return f"Input features do not match the {len(expected)} training features: " + "; ".join(parts) + "."


def near_names(given: Sequence[str], expected: Sequence[str], limit: int = 3) -> str:
    """The ``given`` names that are an ``expected`` one but for case or the spaces around it, as
    ``' flow' is 'flow' with spaces around it``; empty when none is.

    >>> near_names(["Flow ", "levels"], ["flow", "level"])
    "'Flow ' is 'flow' in another case and with spaces around it"
    """
    said = []
    for name in given:
        for feature in expected:
            if name.strip().casefold() != feature.strip().casefold():
                continue
            how = [
                *(["in another case"] if name.strip() != feature.strip() else []),
                *(["with spaces around it"] if name.strip() != name or feature.strip() != feature else []),
            ]
            said.append(f"{name!r} is {feature!r} {' and '.join(how)}")
            break
    return ", ".join(said[:limit]) + (f" and {len(said) - limit} more" if len(said) > limit else "")


def not_columns(said: str, unknown: Sequence[str], names: Sequence[str], *, among: str = "the input") -> str:
    """The refusal of ``unknown``, named as ``said`` (``The 'categorical' setting names``,
    ``--categorical names``), that are not among the columns ``names`` of ``among``: each one said to
    be near a column that is it but for case or spaces.

    >>> for part in not_columns("--categorical names", ["Zone"], ["flow", "zone"]).split(": "):
    ...     print(part)
    --categorical names 'Zone', not among the columns of the input ('flow', 'zone')
    'Zone' is 'zone' in another case; names must match exactly.
    """
    near = near_names(unknown, [n for n in names if n not in unknown])
    return f"{said} {_preview(unknown)}, not among the columns of {among} ({_preview(names)})" + (
        f": {near}; names must match exactly." if near else "."
    )
