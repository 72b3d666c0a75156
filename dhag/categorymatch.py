"""Which trained category a categorical value is: its own text, or else the category its number gives.

The same codes reach a model written in several ways: a frame's float ``1.0`` is the category ``1``,
the CSV pandas writes of that frame holds ``1.0``; a flag fitted from a frame's bools is ``True`` and
``False``, the source it is scored from may write ``1`` and ``0``; a CSV written with a space after each
comma holds `` north`` for ``north`` (its numbers read as numbers all the same). Each is matched to the
trained category it means, unless two trained categories would then be one (``1`` and ``1.0``, ``True``
and ``1``, or ``north`` and `` north``, both seen in training), which are told apart by their text only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["category_key", "one_hot"]

# An integral number written as a float's text ("1.0", as pandas writes a float column to a CSV).
_FLOAT_TEXT = re.compile(r"([+-]?\d+)\.0*")
# A truth value as Python, numpy and other tools write it: the number it is.
_TRUTH = {"true": "1", "false": "0"}


def category_key(category: str) -> str:
    """The category ``category`` is as a number would give it: ``"1.0"`` is ``"1"``, as the float 1.0
    is (:func:`~dhag.columns._category_strings`), ``"True"`` is ``"1"``, as ``True == 1``; any other
    text is itself, without the spaces around it (``" north"`` is ``"north"``).

    >>> category_key("2.0"), category_key("-0.00"), category_key("01"), category_key("1.5")
    ('2', '0', '01', '1.5')
    >>> category_key("True"), category_key("false"), category_key(" north "), category_key(" 1.0")
    ('1', '0', 'north', '1')
    """
    category = category.strip()
    found = _FLOAT_TEXT.fullmatch(category)
    if found:
        return str(int(found.group(1)))
    return _TRUTH.get(category.casefold(), category)


def one_hot(values: np.ndarray, cats: Sequence[str]) -> np.ndarray:
    """Per value, whether it is each of ``cats``: the same text, or else the same category as a number
    gives it (:func:`category_key`), so that codes fitted from a frame's floats (``1``) and read from
    the CSV pandas wrote of them (``1.0``), or a flag fitted as ``True``/``False`` and scored as
    ``1``/``0``, or the other way round, and ``north`` read as `` north`` are one category. Categories
    that would be one so (``1`` and ``1.0``, or ``north`` and `` north``, both seen in training) are
    told apart by their text only.

    >>> one_hot(np.array(["1.0", "2", "x"], dtype=object), ["1", "2.0"]).astype(int).tolist()
    [[1, 0], [0, 1], [0, 0]]
    >>> one_hot(np.array(["1", "0"], dtype=object), ["False", "True"]).astype(int).tolist()
    [[0, 1], [1, 0]]
    """
    known = np.asarray(cats, dtype=object)
    hot = values[:, None] == known[None, :]
    keys = [category_key(c) for c in cats]
    unmatched = ~hot.any(axis=1)
    if unmatched.any() and len(set(keys)) == len(keys):
        other = np.asarray([category_key(v) for v in values[unmatched]], dtype=object)
        hot[unmatched] = other[:, None] == np.asarray(keys, dtype=object)[None, :]
    return hot
