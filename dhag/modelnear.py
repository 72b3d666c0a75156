"""The models a path given as one may have meant, for the refusal of a path that does not exist (``pump``
beside ``pump.dhag``, ``pmp.dhag`` beside ``pump.dhag``) or that is a folder (``models`` holding
``models/pump.dhag``): the artifacts named so are files with the suffix models are written with."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

__all__ = ["SUFFIX", "folder_said", "missing_hint"]

#: The suffix of a model's file, as ``dhag train --out`` and the registry name them.
SUFFIX = ".dhag"

_LOOKED_AT = 10_000  # entries of a folder read for artifacts at most: the refusal stays quick
_CLOSE = 0.8  # difflib's ratio: a character or two off in a short name
_NAMED = 3  # artifacts named at most


def _artifacts(folder: Path) -> list[str]:
    """The names of the files (or links to files) in ``folder`` that end with :data:`SUFFIX`, any case;
    empty where it cannot be read."""
    names = []
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= _LOOKED_AT:
                    break
                if entry.name.casefold().endswith(SUFFIX) and not entry.name.startswith("."):
                    try:
                        if entry.is_file():
                            names.append(entry.name)
                    except OSError:
                        continue
    except OSError:
        return []
    return sorted(names)


def _either(paths: list[Path]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    shown = [repr(str(p)) for p in paths]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def missing_hint(path: Path) -> str:
    """``did you mean 'pump.dhag'?`` for a ``path`` that does not exist where an artifact beside it
    is named as it is with :data:`SUFFIX` added, else the (up to three) whose names are nearest to its;
    empty where none is near, or where ``path`` is there (a link whose target is gone, say).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("pump.dhag", "fan.dhag", "pump.csv"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [missing_hint(folder / name).replace(str(folder), "F") for name in ("pump", "pmp.dhag", "pumps")]
    ["did you mean 'F/pump.dhag'?", "did you mean 'F/pump.dhag'?", "did you mean 'F/pump.dhag'?"]
    >>> missing_hint(folder / "boiler.dhag"), missing_hint(folder / "pump.dhag")
    ('', '')
    """
    if os.path.lexists(path) or path.name in ("", ".", ".."):
        return ""
    names = _artifacts(path.parent)
    if path.name + SUFFIX in names:
        return f"did you mean {_either([path.parent / (path.name + SUFFIX)])}?"
    folded = {name.casefold(): name for name in names}
    # A name without a suffix is compared as its artifact's would be; one with another suffix as it is
    # (``pump.cs`` is no model's name cut short).
    given = path.name.casefold() if "." in path.name else path.name.casefold() + SUFFIX
    ratios = {name: difflib.SequenceMatcher(None, given, name).ratio() for name in folded}
    near = sorted((name for name in folded if ratios[name] >= _CLOSE), key=lambda n: (-ratios[n], n))[:_NAMED]
    return f"did you mean {_either([path.parent / folded[name] for name in near])}?" if near else ""


def folder_said(path: Path) -> str:
    """What the folder ``path``, given as a model, is, and the artifacts in it a reader may have meant:
    up to three by name, or, of more, the newest.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> folder_said(folder)
    'It is a folder, which holds no .dhag file.'
    >>> _ = (folder / "pump.dhag").write_bytes(b"")
    >>> folder_said(folder).replace(str(folder), "F")
    "It is a folder; did you mean 'F/pump.dhag'?"
    """
    names = _artifacts(path)
    if not names:
        return f"It is a folder, which holds no {SUFFIX} file."
    if len(names) <= _NAMED:
        return f"It is a folder; did you mean {_either([path / name for name in names])}?"

    def modified(name: str) -> float:
        try:
            return (path / name).stat().st_mtime
        except OSError:
            return 0.0

    newest = max(names, key=modified)
    return (
        f"It is a folder; did you mean one of its {len(names)} {SUFFIX} files, such as "
        f"{_either([path / newest])} (the newest)?"
    )
