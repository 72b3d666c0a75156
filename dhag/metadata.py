"""The user metadata saved beside a model: what loads back as it was given, and what a save refuses.

The artifact keeps metadata as JSON: a key that is no text would load as text (``1`` as ``"1"``), a
tuple as a list, and NaN, bytes or objects not at all. A save refuses such metadata, naming where it
sits, rather than write a model whose metadata a registry or a script would later read otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dhag.exceptions import ArtifactError

__all__ = ["checked_metadata"]

_RULE = (
    "metadata is a dict of text keys whose values are text, numbers, True/False, None, lists and such "
    "dicts, as JSON keeps them"
)


def checked_metadata(metadata: Any, where: str = "metadata") -> dict[str, Any]:
    """``metadata`` as the artifact keeps it (numpy's numbers as Python's: they load equal), or
    :class:`ArtifactError` naming the first key or value that would not load as given (``where``
    names the whole: ``metadata`` for :meth:`~dhag.DHAG.save`'s argument, ``metadata_`` for the
    model's own).

    >>> checked_metadata({"rows": np.int64(3), "window": [1.5, None]})
    {'rows': 3, 'window': [1.5, None]}
    >>> try:
    ...     checked_metadata({"span": (1, 2)})
    ... except ArtifactError as exc:
    ...     print(str(exc)[:82])
    The model cannot be saved: metadata['span'] is a tuple, which would load as a list
    """
    if not isinstance(metadata, dict):
        raise _refused(f"{where} is of type {type(metadata).__name__}, not a dict")
    try:
        return _kept(metadata, where)
    except RecursionError:
        raise _refused(f"{where} is nested too deeply to be written") from None


def _kept(value: Any, where: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()  # a Python number (or text, or bool): equal to the numpy one
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise _refused(
                    f"{where} key {key!r} ({type(key).__name__}) is no text: it would load as "
                    f"the text {str(key)!r}"
                )
        return {key: _kept(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, tuple):
        raise _refused(f"{where} is a tuple, which would load as a list: give a list")
    if isinstance(value, list):
        return [_kept(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise _refused(f"{where} is {value}, which JSON does not hold: give None for a missing number")
    if isinstance(value, np.ndarray):
        raise _refused(f"{where} is a numpy array: give array.tolist()")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise _refused(f"{where} is of type {type(value).__name__}, which JSON does not hold")


def _refused(problem: str) -> ArtifactError:
    return ArtifactError(f"The model cannot be saved: {problem}; {_RULE}.")
