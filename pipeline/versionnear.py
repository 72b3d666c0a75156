"""The registry's versions named like one it does not have, for ``models show V`` and ``models promote V``
to name: a version is a long name (``v20261129T101500Z-42``), easily copied without its end or with
two digits swapped."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from pipeline.registrypointer import SUFFIX, VERSION

__all__ = ["versions_like"]

_CLOSE = 0.9  # difflib's ratio: two of twenty characters off


def versions_like(registry: str | Path, version: str) -> list[str]:
    """Up to three of ``registry``'s versions that ``version`` may have meant: those it begins (a name
    cut short), when no more than three do, else the closest by spelling (a character or two off: the
    versions a registry's clock names share most of theirs, so only the closest are named, never one
    merely alike, which an operator might promote); empty when none is that close, or
    when ``registry`` has ``version`` (what was refused was another file: the current one's, say).

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("v20261205T092812Z-1", "v20261205T094224Z-7", "v20261205T094224Z-17"):
    ...     _ = (root / f"{name}.dhag").write_bytes(b"")
    >>> versions_like(root, "v20261205T094224Z")
    ['v20261205T094224Z-17', 'v20261205T094224Z-7']
    >>> versions_like(root, "v20261205T092821Z-1")
    ['v20261205T092812Z-1']
    >>> versions_like(root, "prod-2"), versions_like(root, "v20261205T092812Z-1")
    ([], [])
    """
    if os.path.lexists(Path(registry) / f"{version}{SUFFIX}"):
        return []
    names = sorted(
        name for p in Path(registry).glob(f"*{SUFFIX}") if VERSION.fullmatch(name := p.name[: -len(SUFFIX)])
    )
    begun = [name for name in names if name.startswith(version)] if version else []
    if 0 < len(begun) <= 3:
        return begun
    ratios = {name: difflib.SequenceMatcher(None, version, name).ratio() for name in names}
    best = max(ratios.values(), default=0.0)
    return [name for name, ratio in ratios.items() if ratio == best >= _CLOSE][:3]
