"""Where ``dhag score`` writes its scores: a CSV file at ``--out``, or standard output, and what it says
when the system refuses them there (a full volume or device), naming where they were going."""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dhag.atomicwrite import write_atomic_with
from dhag.exceptions import DHAGError, InputError
from dhag.modelroom import available_bytes
from dhag.outofmemory import said_when_out_of_memory, writing_message
from dhag.stopsignals import silenced
from dhag.topfeatures import top_features_cell

__all__ = [
    "check_room_for_scores",
    "check_standard_output",
    "explained_bytes",
    "scores_bytes",
    "print_out",
    "write_scores",
]


def check_standard_output(
    said: str = "the scores have nowhere to go: name a file with --out; nothing was scored",
) -> None:
    """Raise :class:`DHAGError` when standard output is closed (``>&-``: Python's ``sys.stdout`` is
    None), before any work: what the command prints would have nowhere to go, as ``said`` tells."""
    if sys.stdout is None:
        raise DHAGError(f"standard output is closed (>&-), so {said}.")


def print_out(text: str, *, what: str, done: str = "") -> None:
    """Print ``text`` (``what`` a command says) on standard output, flushed: a write the system refuses
    there (``> /dev/full``, a file on a full volume) raises :class:`DHAGError` naming standard output,
    with ``done``, what the command did before, after it, rather than a bare "No space left on device"
    that reads as the command's own work failing; a reader that went away still raises
    ``BrokenPipeError``."""
    try:
        print(text)
        sys.stdout.flush()  # a full device refuses at the flush: said here, not as Python exits
    except BrokenPipeError:
        raise
    except OSError as exc:
        silenced()
        raise DHAGError(f"cannot write {what} to standard output: {_reason(exc)}{done}.") from None


# The characters a score takes as written: the float64 a model gives, as its shortest repr, "0." and
# 16 or 17 digits for a score between 0.1 and 1 (17.9 on average, measured on the scores of 5,000 rows);
# one below 0.1 takes one more, an exact 0.0 or 1.0 three.
SCORE_CHARACTERS = 18


def scores_bytes(ids: pd.DataFrame, *, rows: int, explain: bool) -> int:
    """The bytes the CSV of the scores of ``rows`` rows takes, with the columns ``ids`` carried before
    them (each cell as it is written) and with ``explain`` a ``top_features`` column: the header, each
    id, a score of :data:`SCORE_CHARACTERS`, the anomaly flag, the commas and each line's end. The
    features named for flagged rows, which only the scores tell, are :func:`explained_bytes`; without
    them it is within a few per cent of what is written, unless many scores are exactly 0.0 or 1.0.

    >>> ids = pd.DataFrame({"asset": ["pump-7", "fan-12"]})
    >>> written = ids.assign(score=0.5365920517295646, anomaly=0).to_csv(index=False)
    >>> scores_bytes(ids, rows=2, explain=False), len(written)
    (76, 76)
    """
    columns = [*map(str, ids.columns), "score", "anomaly", *(["top_features"] if explain else [])]
    header = len(",".join(columns).encode()) + 1
    cells = 0
    for name in ids.columns:
        column = ids[name]
        written = column[column.notna()]  # a gap is written as an empty cell
        if pd.api.types.is_numeric_dtype(column):  # an NPZ's label array: read as numbers
            written = written.astype(str)
        text = written.astype("string")
        wide = text[~text.str.isascii()]  # a character past ASCII takes 2 to 4 bytes in UTF-8
        cells += int(text.str.len().sum()) + int(
            wide.str.encode("utf-8").str.len().sum() - wide.str.len().sum()
        )
    return header + cells + rows * (len(columns) - 1 + 1 + SCORE_CHARACTERS + len("0"))


def explained_bytes(features: Sequence[str], *, flagged: int, top: int) -> int:
    """The bytes the ``top_features`` cells of ``flagged`` rows take, each naming ``top`` of the model's
    ``features`` (all of them, where it has fewer) with a contribution of four places, a name taking
    as many bytes as the mean of theirs, escaped as the cell writes it. A row named fewer features
    (fewer raise its score, as of a row barely flagged) takes less: with many such rows, this is some
    per cent above what is written.

    >>> cell = "flow_m3h:0.6123;temp:0.1000"
    >>> explained_bytes(["flow_m3h", "temp"], flagged=3, top=2) == 3 * len(cell)
    True
    """
    if not (flagged and features and top):
        return 0
    entries = [len(top_features_cell([(str(name), 0.0)]).encode()) for name in features]
    named = min(top, len(entries))
    return round(flagged * (named * sum(entries) / len(entries) + named - 1))


def check_room_for_scores(path: Path, needed: int, *, rows: int, flagged: int | None = None) -> None:
    """Raise :class:`InputError` when the volume the scores at ``path`` (a regular file, or none yet)
    would be written on has fewer than ``needed`` bytes available (:func:`scores_bytes`): they
    are written whole or not at all, and a volume that takes part of them fails the write after the
    scoring. A pipe or a device is not asked.

    >>> import tempfile
    >>> check_room_for_scores(Path(tempfile.mkdtemp()) / "scores.csv", 46, rows=2)
    """
    room = available_bytes(path) if _regular(path) else None
    if room is not None and room[1] < needed:
        folder, free = room
        named = "" if flagged is None else f", with the features named for the {flagged:,} flagged,"
        done = "nothing was scored" if flagged is None else "the rows were scored, and nothing was written"
        raise InputError(
            f"--out {str(path)!r}: the volume of {str(folder)!r} has {free:,} bytes available, and the "
            f"scores of {rows:,} rows{named} take about {needed:,}: free room there, name a file on another "
            f"volume, or score the file in parts; {done}."
        )


def write_scores(frame: pd.DataFrame, path: Path | None) -> None:
    """``frame`` as CSV at ``path``, or on standard output for None. A write the system refuses raises
    :class:`DHAGError` naming where the scores were going and what became of them; a reader of standard
    output that went away still raises ``BrokenPipeError``; memory that ran out writing them, a
    :class:`DHAGError` saying so.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "scores.csv"
    >>> write_scores(pd.DataFrame({"score": [0.25], "anomaly": [0]}), path)
    >>> path.read_text()
    'score,anomaly\\n0.25,0\\n'
    """
    with said_when_out_of_memory(lambda e: writing_message(e, rows=len(frame), out=path)):
        _write_scores(frame, path)


def _write_scores(frame: pd.DataFrame, path: Path | None) -> None:
    if path is None:
        try:
            frame.to_csv(sys.stdout, index=False)
            sys.stdout.flush()  # a full device refuses at the flush: said here, not as Python exits
        except BrokenPipeError:
            raise
        except OSError as exc:
            silenced()
            raise DHAGError(
                f"cannot write the scores of {len(frame):,} rows to standard output: {_reason(exc)}; what "
                "it took of them is cut short: name a file with --out on a volume with room, which is "
                "written whole or not at all."
            ) from None
        return
    regular = _regular(path)
    try:
        _write_csv(frame, path, regular=regular)
    except OSError as exc:
        kept = "nothing was written to it (a file there is kept)" if regular else "what it took is cut short"
        raise DHAGError(
            f"cannot write the scores of {len(frame):,} rows to {str(path)!r}: {_reason(exc)}; {kept}."
        ) from None


def _regular(path: Path) -> bool:
    """Whether scores at ``path`` are written as a regular file (replaced whole): not a pipe, a device or
    a symbolic link, which are written to as they are."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True


def _write_csv(frame: pd.DataFrame, path: Path, *, regular: bool) -> None:
    """``frame`` as CSV at ``path``: a file all at once (a volume that refuses part of it leaves the
    file that was there, not one cut short); through a pipe, a device or a symbolic link, as it comes,
    to what it names."""
    folder = Path(path).parent
    if not folder.is_dir():  # a mistyped folder is an error, not one to create (as a model's is)
        raise FileNotFoundError(errno.ENOENT, "No such folder to write the scores in", str(folder))
    if regular:
        write_atomic_with(path, lambda fh: frame.to_csv(fh, index=False))
    else:
        frame.to_csv(path, index=False)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
