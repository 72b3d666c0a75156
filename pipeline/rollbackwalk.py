"""Which entry of the registry's history a rollback goes back to: the newest that still loads.

A version in the history may have stopped loading since it was current: damaged (truncated, failing
its checksum), signed with another key, written by a newer release, removed by hand. A rollback that
stopped at it could never reach the older, good versions; :func:`walk_back` passes over it, and says
so (:class:`PassedOver`), so that :func:`pipeline.registry.rollback` can leave it out of the history.
A version whose file the system failed to read (``io_error``: an I/O error, no permission) is not
passed over: the read may work a moment later and the version be fine, so the rollback is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from dhag.infotext import shown_name
from pipeline.errors import ModelUnavailableError, VersionUnreadableError

__all__ = ["PassedOver", "walk_back"]

# What each fault of pipeline.errors.VersionUnreadableError is called in the lines a rollback writes.
WHY = {
    "damaged": "damaged",
    "bad_signature": "not signed with the deployment's key",
    "newer_release": "a newer release's",
    "missing": "missing",
}


class PassedOver(NamedTuple):
    """A history entry a rollback went past because it does not load: ``fault`` (a key of :data:`WHY`)
    and the error that loading it raised."""

    version: str
    fault: str
    error: str

    def why(self) -> str:
        """``why (error)`` on one line.

        >>> PassedOver("v2", "missing", "The registry 'r' has no version 'v2'.").why()
        "missing (The registry 'r' has no version 'v2'.)"
        """
        error = " ".join(self.error.split())
        return f"{WHY.get(self.fault, self.fault)} ({error})"

    def line(self) -> str:
        r"""``version: why (error)``, the version as ``dhag info`` shows a name
        (:func:`dhag.infotext.shown_name`): the history file is read from disk, and an entry edited by hand
        may hold a line break or a terminal's escape, which would break the line and act on the terminal.

        >>> print(PassedOver("v9\x1b[2J", "missing", "no version 'v9\\x1b[2J'").line())
        'v9\x1b[2J': missing (no version 'v9\x1b[2J')
        """
        return f"{shown_name(self.version)}: {self.why()}"


def walk_back(
    root: Path, past: Sequence[str], present: str | None, load: Callable[[str], object]
) -> tuple[int, list[PassedOver]]:
    """``(index, passed)``: the index in ``past`` (oldest first) of the newest entry other than
    ``present`` that ``load`` loads, and the entries after it that did not load, newest first, each
    version once. ``load`` raises :class:`VersionUnreadableError` for a version that does not load;
    anything else it raises (a device that loads no model, a lock) ends the walk, changing nothing.

    Raises :class:`ModelUnavailableError` when no entry loads, naming each one and why, one line each,
    and when reading one failed (``io_error``), naming its file, the error and what to check.
    """
    passed: list[PassedOver] = []
    seen = {present}
    for index in range(len(past) - 1, -1, -1):
        version = past[index]
        if version in seen:  # the version current now (a history cut short), or one already passed
            continue
        seen.add(version)
        try:
            load(version)
        except VersionUnreadableError as exc:
            if exc.fault == "io_error":
                raise ModelUnavailableError(
                    f"{exc}: a read error, which says nothing of the version; it is not passed over, and "
                    "nothing changed. Check what stops reading it (its owner and mode: run the command as "
                    "the service's user; the registry's volume: I/O errors in the node's kernel log), "
                    "then roll back again; to go further back all the same, 'models promote VERSION'."
                ) from None
            passed.append(PassedOver(version, exc.fault, str(exc)))
            continue
        return index, passed
    if not passed:
        raise ModelUnavailableError(
            f"Nothing to roll back to: the registry {str(root)!r} has no earlier current version."
        )
    named = "".join(f"\n  {p.line()}" for p in passed)
    raise ModelUnavailableError(
        f"Nothing to roll back to: no earlier current version of the registry {str(root)!r} loads; "
        f"nothing changed. Its history lists, newest first:{named}\nRestore one from a backup, re-sign "
        "one signed with another key ('dhag sign'), or switch to a version that loads with 'models "
        "promote VERSION' ('models list' shows which do)."
    )
