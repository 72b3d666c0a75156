"""A CSV exported without its header row (the tag list kept apart): its first row of readings is taken
for the column names, and is no row of the table. Only numbers in every name tell it, and a header of
numbers may be meant (spectral bins, tag numbers), so ``dhag train`` warns and trains on, and a refusal
of the names (repeated, or not the model's) says what they may be."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path

from dhag.categorymatch import category_key

__all__ = ["headerless_note", "headerless_warning", "numbers_for_names"]


def numbers_for_names(path: Path, names: Sequence[str], categories: Collection[str] = ()) -> list[str] | None:
    """The ``names`` of the CSV ``path``'s header when every one is a finite number, as a first row of
    readings is, or one of ``categories`` (a model's, as :func:`~dhag.categorymatch.one_hot` matches
    them: a first row of readings holds a categorical column's value); None for another file, or a
    header with a name that is neither.

    >>> numbers_for_names(Path("x.csv"), ["9.87", "-3", "1e3"])
    ['9.87', '-3', '1e3']
    >>> numbers_for_names(Path("x.csv"), ["9.87", "flow"]) is None
    True
    >>> numbers_for_names(Path("x.csv"), ["9.87", "north"], categories=["north", "south"])
    ['9.87', 'north']
    """
    suffixes = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    if suffixes not in (".csv", ".csv.gz") or not names:
        return None
    known = {*categories, *map(category_key, categories)}
    for name in names:
        if name in known or category_key(name) in known:
            continue
        try:
            if not math.isfinite(float(name)):
                return None
        except ValueError:
            return None
    return [str(n) for n in names]


def _shown(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(map(repr, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def headerless_note(path: Path, names: Sequence[str], features: Sequence[str] = ()) -> str:
    """What a refusal of the names ``names`` of ``path`` adds: that its header row may be missing.

    >>> print(headerless_note(Path("a.csv"), ["10", "3"], ["flow", "temp"]))  # doctest: +NORMALIZE_WHITESPACE
    The first line of a.csv holds only numbers ('10', '3'): is its header row missing?
    Add one naming its columns (the model's features: 'flow', 'temp').
    """
    named = f" (the model's features: {_shown(list(features), 8)})" if len(features) else ""
    numbers = all(_is_number(n) for n in names)
    held = "only numbers" if numbers else "only numbers and categories the model knows"
    return (
        f"The first line of {path.name} holds {held} ({_shown(names)}): is its header row missing? "
        f"Add one naming its columns{named}."
    )


def _is_number(name: str) -> bool:
    try:
        return math.isfinite(float(name))
    except ValueError:
        return False


def headerless_warning(path: Path, names: Sequence[str]) -> str:
    """What ``dhag train`` says of a file whose header ``names`` are all numbers."""
    return (
        f"every column name in the first line of {path.name} is a number ({_shown(names)}): if the file has "
        "no header row, its first row of readings was taken for the names and left out of training; add "
        "a header row naming the columns"
    )
