"""A promotion hold: ``<model.registry>/promotion-hold.json``, placed by ``models hold`` and removed by
``models release``, says who stopped the retrainer's promotions, since when and why.

While it is there the retrainer still trains and judges its candidates (their run reports say what it
would have done) but promotes none: such a run ends ``held``. Operators' own ``models promote`` and
``models rollback`` ignore it. A hold file that cannot be read (not JSON, not the fields below, a
folder, no permission) holds all the same: a promotion is never made on doubt; it is logged once per
file and error in a process, naming the file.

The file is written atomically (:func:`~dhag.atomicwrite.write_atomic`, as the registry's pointers) and
under the registry's lock, so a hold placed after a run was judged still stops its promotion, which
checks it under that lock (:func:`check`). Released, it is kept as ``promotion-hold.released.json``
with when it was released (:func:`released`, the last one): a retrainer killed after the hold refused
its candidate, before the run's report, is found held at its restart though the hold is gone.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import time
import unicodedata
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from dhag.atomicwrite import write_atomic
from pipeline.configvalues import shown
from pipeline.errors import PipelineError
from pipeline.logs import SaidOnce
from pipeline.operatorname import MAX_OPERATOR, operator_name, unnamed_character
from pipeline.registrypointer import locked
from pipeline.textwidth import escaped

__all__ = ["HOLD", "RELEASED", "Hold", "PromotionHeldError", "check", "place", "read", "release", "released"]

HOLD = "promotion-hold.json"
RELEASED = "promotion-hold.released.json"
_FIELDS = ("operator", "since", "reason")

log = logging.getLogger("pipeline.registry")  # its lines read as the registry's

_SAID = SaidOnce()  # (file, error) said in this process


class PromotionHeldError(PipelineError):
    """A retrainer's promotion refused: a promotion hold is in place (or its file cannot be read)."""

    def __init__(self, hold: Hold) -> None:
        super().__init__(f"not promoted: {hold.line()}")
        self.hold = hold


@dataclass(frozen=True)
class Hold:
    """A hold in place: who placed it, when (UTC, ISO 8601) and why; ``error``: why its file could not be
    read (then the other fields are empty, and it holds all the same)."""

    path: Path
    operator: str = ""
    since: str = ""
    reason: str = ""
    error: str | None = None
    #: The last candidate whose promotion it refused (:func:`check`), None before any.
    refused: str | None = None
    #: When ``models release`` ended it (UTC, ISO 8601); None while it is in place.
    released: str | None = None

    def line(self, *, already: bool = False) -> str:
        """The hold in one line, as ``models list`` and the run reports say it (``already``: as ``models
        hold`` says one it found in place)."""
        if self.error is not None:
            return (
                f"promotions held: the hold file {str(self.path)!r} cannot be read ({self.error}), which "
                "holds them all the same; `dhag-pipeline models release` removes it"
            )
        why = escaped(self.reason) if self.reason else "no reason given"
        if self.released is not None:
            return (
                f"promotions were held from {escaped(self.since)} by {escaped(self.operator)} (released "
                f"{escaped(self.released)}): {why}"
            )
        held = "already held" if already else "held"
        return (
            f"promotions {held} since {escaped(self.since)} by {escaped(self.operator)}: {why} (the "
            "retrainer trains and judges, promotes nothing; `dhag-pipeline models release` ends it)"
        )

    def as_dict(self) -> dict[str, str | None]:
        """The hold as a run report records it."""
        said = {"file": str(self.path), "operator": self.operator, "since": self.since, "reason": self.reason}
        said |= {"released": self.released} if self.released is not None else {}
        return said | ({"error": self.error} if self.error is not None else {})


def _say(path: Path, error: str) -> None:
    if not _SAID.first((str(path), error)):
        return
    log.warning(
        "the promotion hold file %s cannot be read (%s): promotions are held until it is mended or "
        "removed (`dhag-pipeline models release`)",
        path,
        error,
    )


def read(registry: str | Path) -> Hold | None:
    """The hold in place in ``registry``, or None; a file that cannot be read is a hold (with ``error``),
    logged once."""
    return _read(Path(registry) / HOLD)


def released(registry: str | Path) -> Hold | None:
    """The hold last released in ``registry`` (with ``released``), or None: none, or its record cannot
    be read (nothing is held by it)."""
    path = Path(registry) / RELEASED
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(data, dict) or not all(
            isinstance(data.get(f), str) for f in (*_FIELDS, "released")
        ):
            return None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    refused = data.get("refused") if isinstance(data.get("refused"), str) else None
    return Hold(
        path, data["operator"], data["since"], data["reason"], refused=refused, released=data["released"]
    )


def _read(path: Path) -> Hold | None:
    try:
        text = path.read_bytes().decode("utf-8")
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in _FIELDS):
            raise ValueError(f"not a JSON object with the strings {', '.join(_FIELDS)}")
    except FileNotFoundError:
        return None
    except OSError as exc:
        error = exc.strerror or str(exc)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        error = f"{type(exc).__name__}: {exc}"
    else:
        refused = data.get("refused") if isinstance(data.get("refused"), str) else None
        return Hold(path, data["operator"], data["since"], data["reason"], refused=refused)
    _say(path, error)
    return Hold(path, error=error)


def checked_operator(given: str, option: str = "operator") -> str:
    """``given`` as a label keeps its operator (:func:`~pipeline.operatorname.operator_name`), or
    ``ValueError`` naming ``option`` and saying why it names no one, as ``label --operator`` refuses
    such a name: blank (a variable unset: never taken for the user running the command), holding a
    control or invisible character, or too long.

    >>> checked_operator("  ana   lee ")
    'ana lee'
    >>> checked_operator("")
    Traceback (most recent call last):
    ...
    ValueError: operator '' names no one: give who holds the promotions, or leave operator out for the \
user running the command
    """
    if (held := unnamed_character(given)) is not None:
        raise ValueError(f"{option} {shown(given)} holds {held}: write the name without it")
    if not (name := operator_name(given)):
        raise ValueError(
            f"{option} {shown(given)} names no one: give who holds the promotions, or leave {option} out "
            "for the user running the command"
        )
    if len(name) > MAX_OPERATOR:
        raise ValueError(
            f"{option} must be at most {MAX_OPERATOR} characters; got {len(name)} without the spaces "
            "around it"
        )
    return name


def checked_reason(given: str, option: str = "reason") -> str:
    """``given``, or ``ValueError`` naming ``option`` when it holds a control character or a line break:
    the reason is one line of ``models list`` and the run reports, where such a character was shown
    escaped (``\\x1b[2J``) rather than said.

    >>> checked_reason("v2 flags every pump at night")
    'v2 flags every pump at night'
    >>> checked_reason("v2 is bad\\nsee ticket 12")
    Traceback (most recent call last):
    ...
    ValueError: reason 'v2 is bad\\nsee ticket 12' holds '\\n' (a line break) at character 10: write the \
reason on one line, without it
    """
    for place, char in enumerate(given, 1):
        kind = unicodedata.category(char)
        if kind in ("Cc", "Zl", "Zp"):
            what = (
                "a line break"
                if kind != "Cc" or char in "\n\r\v\f\x1c\x1d\x1e\x85"
                else "a control character"
            )
            raise ValueError(
                f"{option} {shown(given)} holds {char!r} ({what}) at character {place}: write the reason on "
                "one line, without it"
            )
    return given


def place(registry: str | Path, *, reason: str = "", operator: str | None = None) -> tuple[Hold, bool]:
    """Place a hold in ``registry`` (under its lock); returns it and whether it is new. A readable hold in
    place is left as it is (returned, ``False``); one that cannot be read is replaced. ``operator``: who
    holds (None: the user running it), refused as :func:`checked_operator` says; ``reason`` refused as
    :func:`checked_reason` says (``ValueError``), before the registry is touched."""
    operator = None if operator is None else checked_operator(operator)
    reason = checked_reason(reason)
    root = Path(registry)
    if (present := read(root)) is not None and present.error is None:
        return present, False  # nothing to change: no lock taken (a read-only registry too)
    with locked(root):
        if (present := read(root)) is not None and present.error is None:
            return present, False
        hold = Hold(
            root / HOLD,
            _user() if operator is None else operator,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            reason,
        )
        fields = {"schema": 1} | {f: getattr(hold, f) for f in _FIELDS}
        folder = present is not None and hold.path.is_dir()
        if folder:
            _remove(hold.path)  # a folder in its place is no file a write replaces
        try:
            write_atomic(hold.path, (json.dumps(fields, indent=2) + "\n").encode())
        except BaseException:
            if folder:  # put back: it held promotions, and refused, nothing changes
                with suppress(OSError):
                    hold.path.mkdir()
            raise
    return hold, True


def release(registry: str | Path) -> Hold | None:
    """Remove the hold of ``registry`` (under its lock); returns the hold removed, or None when none was
    in place."""
    root = Path(registry)
    if not os.path.lexists(root / HOLD):
        return None  # nothing to change: no lock taken (a read-only registry too)
    with locked(root):
        if (present := read(root)) is None:
            return None
        if present.error is None:  # kept: what it refused outlives it (pipeline.retrain.interrupted)
            fields = {"schema": 1} | {f: getattr(present, f) for f in (*_FIELDS, "refused")}
            fields["released"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            try:
                write_atomic(root / RELEASED, (json.dumps(fields, indent=2) + "\n").encode())
            except OSError as exc:  # a full volume does not keep a hold in place
                log.warning("cannot keep the released hold as %s: %s", root / RELEASED, exc)
        _remove(root / HOLD)
    return present


def _remove(path: Path) -> None:
    """Remove the hold file at ``path``, or the empty folder in its place (a bind mount of a file that was
    not there makes one); one with files in it is refused (:class:`ValueError`), left for a person."""
    try:
        path.unlink(missing_ok=True)
    except IsADirectoryError:
        try:
            path.rmdir()
        except OSError as exc:
            if not path.is_dir() or not any(path.iterdir()):
                raise
            raise ValueError(
                f"the hold file {str(path)!r} is a folder with files in it ({exc.strerror}): look at what it "
                "holds and remove it by hand; until then it holds promotions"
            ) from None


def check(registry: str | Path, version: str | None = None) -> None:
    """Raise :class:`PromotionHeldError` while a hold is in place in ``registry`` (the caller holds its
    lock). Refusing ``version``, a readable hold records it (``refused``, the last one): a retrainer
    killed before its run's report is found held at its restart, though the hold came after the
    candidate's publication (:mod:`pipeline.retrain.interrupted`). A record that cannot be written is
    logged; the refusal stands."""
    if (hold := read(registry)) is None:
        return
    if version is not None and hold.error is None and hold.refused != version:
        try:
            fields = json.loads(hold.path.read_text(encoding="utf-8")) | {"refused": version}
            write_atomic(hold.path, (json.dumps(fields, indent=2) + "\n").encode())
        except (OSError, ValueError, TypeError) as exc:
            log.warning("cannot record in %s that it held %s: %s", hold.path, version, exc)
    raise PromotionHeldError(hold)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (a container with no USER and no passwd entry)
        return "unknown"
