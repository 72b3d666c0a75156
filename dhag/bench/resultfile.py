"""Reading a saved ``dhag bench table2`` result back (``dhag bench show``), with errors that say what is
wrong in the file's own terms: where its JSON breaks, or which key is missing or holds the wrong type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["read_table2"]

# What format_table2 reads of each cell and each seed's run.
_CELL_NUMBERS = ("f1_mean", "f1_std", "auroc_mean", "fit_seconds")
_RUN_NUMBERS = ("seed", "f1")


def read_table2(path: Path) -> dict[str, Any]:
    """The table2 result saved in ``path``.

    Raises ValueError saying the file cannot be read, is not valid JSON (at which line and column), or
    which key is missing or not of the type a table2 result holds there.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cut.json"
    >>> _ = path.write_text('{"meta": {"benchmark": "table2"}, "thyroid": {')
    >>> read_table2(path)
    Traceback (most recent call last):
    ...
    ValueError: not valid JSON at line 1, column 47: Expecting property name enclosed in double quotes
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from exc
    try:
        result = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(result, dict):
        raise ValueError(f"holds a JSON {_json_type(result)}, not an object of datasets")
    meta = result.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"meta is {_shown(meta)}, not an object")
    if meta.get("benchmark", "table2") != "table2":
        raise ValueError(f"meta.benchmark is {meta['benchmark']!r}, not 'table2'")
    paper = meta.get("paper_dhag_f1", {})
    if not isinstance(paper, dict) or not all(_is_number(v) for v in paper.values()):
        raise ValueError("meta.paper_dhag_f1 is not an object of numbers")
    datasets = [name for name in result if name != "meta"]
    if not datasets:
        raise ValueError("holds no dataset: a table2 result has one object of detectors per dataset")
    for name in datasets:
        cells = result[name]
        if not isinstance(cells, dict):
            raise ValueError(f"{name!r} is {_shown(cells)}, not an object of detectors")
        for det, cell in cells.items():
            _check_object(cell, f"{name}.{det}", _CELL_NUMBERS)
            if "per_seed" not in cell:
                raise ValueError(f"{name}.{det} has no key 'per_seed'")
            runs = cell["per_seed"]
            if not isinstance(runs, list):
                raise ValueError(f"{name}.{det}.per_seed is {_shown(runs)}, not a list of runs")
            for i, run in enumerate(runs):
                where = f"{name}.{det}.per_seed[{i}]"
                _check_object(run, where, _RUN_NUMBERS)
                members = run.get("members", [])
                if not isinstance(members, list):
                    raise ValueError(f"{where}.members is {_shown(members)}, not a list of members")
                for j, member in enumerate(members):
                    _check_object(member, f"{where}.members[{j}]", ("f1", "auroc"))
    return result


def _check_object(value: Any, where: str, numbers: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is {_shown(value)}, not an object")
    for key in numbers:
        if key not in value:
            raise ValueError(f"{where} has no key {key!r}")
        if not _is_number(value[key]):
            raise ValueError(f"{where}.{key} is {_shown(value[key])}, not a number")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _shown(value: Any) -> str:
    """A value as the message shows it: as the file writes it, short, with its JSON type (``1 (number)``,
    ``null``)."""
    if value is None:
        return "null"
    text = json.dumps(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({_json_type(value)})"
