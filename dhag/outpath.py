"""Where ``dhag train --out`` will write its model, checked before training, and ``dhag score --out`` its
scores, checked before scoring: what minutes of work made should not be lost to a folder given as the
file, or one the user may not write in."""

from __future__ import annotations

import argparse
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from dhag.exceptions import InputError
from dhag.modelout import binary_kind, check_replaces_a_model

__all__ = [
    "check_model_out",
    "check_not_an_input",
    "check_results_out",
    "check_scores_out",
    "given_path",
    "model_path",
    "out_file",
    "through_link",
]


def given_path(value: str) -> Path:
    """An :mod:`argparse` ``type`` for an option naming a file: ``value`` with a leading ``~`` taken for
    the home folder, as the shell takes it at a word's start but not after ``--data=``. An empty value
    (a script's unset variable, ``"$MODEL"``) is refused: a :class:`~pathlib.Path` reads it as ``.``,
    the working folder, which would be said of as the file given.

    >>> import os
    >>> given_path("~/rows.csv") == Path(os.path.expanduser("~")) / "rows.csv", given_path("-")
    (True, PosixPath('-'))
    >>> try:
    ...     given_path("")
    ... except argparse.ArgumentTypeError as exc:
    ...     print(exc)
    an empty path names no file (an unset variable in a script?)
    """
    if not value:
        raise argparse.ArgumentTypeError("an empty path names no file (an unset variable in a script?)")
    return Path(value).expanduser()


def model_path(value: str) -> Path:
    """An :mod:`argparse` ``type`` for a model to read (``score --model``, ``info``, ``sign``): as
    :func:`given_path`, and ``-`` is refused, as no model is read from standard input.

    >>> try:
    ...     model_path("-")
    ... except argparse.ArgumentTypeError as exc:
    ...     print(exc)
    a model is not read from standard input: give the path of its file (./- names a file called -)
    """
    if value == "-":
        raise argparse.ArgumentTypeError(
            "a model is not read from standard input: give the path of its file (./- names a file called -)"
        )
    return given_path(value)


def out_file(example: str) -> Callable[[str], Path]:
    """An :mod:`argparse` ``type`` for an option naming a file to write: a value that names a folder by
    its end, ``results/`` or ``results/.``, is refused (a :class:`~pathlib.Path` drops that end, and the
    file would be written as ``results``), suggesting ``example`` in it. A leading ``~`` is the home
    folder (:func:`given_path`). ``./-`` is the file named ``-`` in the working folder, as a path of its
    own: a :class:`~pathlib.Path` makes it ``-``, which names standard output.

    >>> out_file("model.dhag")("models/m.dhag"), out_file("model.dhag")("-")
    (PosixPath('models/m.dhag'), PosixPath('-'))
    >>> out_file("model.dhag")("./-") == Path.cwd() / "-"  # a file named '-'
    True
    >>> try:
    ...     out_file("model.dhag")("models/")
    ... except argparse.ArgumentTypeError as exc:
    ...     print(exc)
    'models/' ends in '/', naming a folder: name the file to write, such as 'models/model.dhag'
    """

    def read(value: str) -> Path:
        if value and os.path.basename(value) in ("", "."):
            tail = "/" if value.endswith("/") else "/."
            raise argparse.ArgumentTypeError(
                f"{value!r} ends in {tail!r}, naming a folder: name the file to write, such as "
                f"{os.path.join(value, example)!r}"
            )
        path = given_path(value)
        # A Path drops the './' of './-': a file named '-' there, not standard output, which '-' names.
        return path.absolute() if str(path) == "-" and value != "-" else path

    return read


def through_link(path: Path, *, option: str = "--out", done: str) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or the regular file a symbolic link there
    leads to (through every link on the way; made, with its missing folders, where there is none yet), so
    that the link stays a link and what it leads to is replaced whole, the new file made in that file's
    folder. A link to a pipe, a device or a folder, and one through the system's own names of open files
    (``/dev/stdout``, ``/proc/self/fd/1``), is ``path`` as given: it is written to as it is, or refused
    as a folder. A link that leads round in a loop is refused with :class:`InputError`, saying nothing
    was ``done``.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "current.dhag").symlink_to("v3.dhag")
    >>> through_link(folder / "current.dhag", done="trained") == folder.resolve() / "v3.dhag"
    True
    >>> through_link(Path("/dev/stdout"), done="scored")
    PosixPath('/dev/stdout')
    """
    if not os.path.islink(path):
        return path
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return path
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(
                f"{option} {str(path)!r} is a symbolic link that leads round in a loop (to itself, or to "
                f"links that lead back to it): there is no file to write through it; nothing was {done}."
            ) from None
    hop = str(path)
    while os.path.islink(hop):  # no loop, as os.stat said
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
        if os.path.abspath(hop).startswith(("/proc/", "/dev/fd/")):  # an open file's name, not a file's
            return path
    return Path(os.path.realpath(path))


def check_model_out(path: Path, *, done: str = "trained") -> None:
    """Raise :class:`InputError` unless a model can be written at ``path``: not a folder, nor a file
    that holds no model (:func:`~dhag.modelout.check_replaces_a_model`), and the nearest folder of it
    that exists is one that may be written in (a missing folder is created); the error says nothing was
    ``done``.

    >>> import tempfile
    >>> check_model_out(Path(tempfile.mkdtemp()) / "new" / "m.dhag")
    """
    _check_made_file(path, option="--out", what="model", example="model.dhag", done=done)
    check_replaces_a_model(path, done=done)


def check_results_out(path: Path, *, option: str = "--json", done: str = "run") -> None:
    """Raise :class:`InputError` unless a benchmark's results can be written at ``path``, checked before
    the benchmark runs as a model's file is before training (a missing folder is created).

    >>> import tempfile
    >>> check_results_out(Path(tempfile.mkdtemp()) / "new" / "results.json")
    """
    _check_made_file(path, option=option, what="results", example="results.json", done=done)


def _check_made_file(path: Path, *, option: str, what: str, example: str, done: str) -> None:
    """The checks of :func:`check_model_out`, its refusals naming ``option`` and what was not ``done``."""
    if str(path) == "-":  # the shell's name for standard output, which takes no model or results
        raise InputError(
            f"{option} '-' names standard output, where the {what} is not written: name the {what} file, "
            f"such as {example!r} ('./-' for a file named '-'); nothing was {done}."
        )
    if path.is_dir():
        raise InputError(
            f"{option} {str(path)!r} is a folder: name the {what} file to write, such as "
            f"{str(path / example)!r}; nothing was {done}."
        )
    folder = path.absolute().parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{option} {str(path)!r}: {str(folder)!r} is not a folder; nothing was {done}.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(
            f"{option} {str(path)!r}: cannot write in {str(folder)!r} (no permission for this user, or a "
            f"read-only volume); nothing was {done}."
        )
    _check_makes_files(path, folder, done=done, option=option)


# The suffixes of formats dhag reads that score does not write, and what each names.
_OTHER_FORMATS = {
    ".parquet": "a Parquet file",
    ".pq": "a Parquet file",
    ".npz": "an NPZ archive",
    ".gz": "a gzip-compressed file",
}


def check_scores_out(path: Path) -> None:
    """Raise :class:`InputError` unless scores can be written at ``path``: not a folder, in a folder that
    exists (one mistyped is not created) and may be written in; a pipe or a device that exists is
    written as it is, so only it need take writes.

    A name whose suffix is another format that dhag reads (``.parquet``, ``.npz``, a gzip ``.gz``) is
    refused too: the scores are CSV text, which a reader of that format would refuse; and so is a file
    there that holds a model or such a format, whatever its name (:func:`~dhag.modelout.binary_kind`).

    >>> import tempfile
    >>> check_scores_out(Path(tempfile.mkdtemp()) / "scores.csv")
    """
    if path.is_dir():
        raise InputError(
            f"--out {str(path)!r} is a folder: name the CSV file to write, such as "
            f"{str(path / 'scores.csv')!r}; nothing was scored."
        )
    if kind := _OTHER_FORMATS.get(path.suffix.lower()):
        stem = path.name[: -len(path.suffix)]
        stem = stem[:-4] if path.suffix.lower() == ".gz" and stem.lower().endswith(".csv") else stem
        csv_name = path.with_name(stem + ".csv")
        raise InputError(
            f"--out {str(path)!r} names {kind}, but dhag score writes CSV text (uncompressed): name a "
            f".csv file, such as {str(csv_name)!r}; nothing was scored."
        )
    if kind := binary_kind(path):  # whatever its name: 'model.dhag', a Parquet file named 'rows.bin'
        other = path.with_suffix(".csv")
        name = "another file" if other == path else f"a .csv file, such as {str(other)!r}"
        raise InputError(
            f"--out {str(path)!r} is {kind}, which the scores (CSV text) would replace: name {name}; "
            "nothing was scored."
        )
    folder = path.absolute().parent
    if not os.path.lexists(folder):
        raise InputError(
            f"--out {str(path)!r}: there is no folder {str(folder)!r} (it is not made for the scores); "
            "nothing was scored."
        )
    if not folder.is_dir():
        raise InputError(f"--out {str(path)!r}: {str(folder)!r} is not a folder; nothing was scored.")
    # A regular file is replaced whole, by a new one made in its folder; a pipe or a device is written to.
    special = path.exists() and not path.is_file()
    if not os.access(path if special else folder, os.W_OK | (0 if special else os.X_OK)):
        raise InputError(
            f"--out {str(path)!r}: cannot write in {str(path if special else folder)!r} (no permission "
            "for this user, or a read-only volume); nothing was scored."
        )
    if not special:
        _check_makes_files(path, folder, done="scored", option="--out")


# The bytes the probe writes and syncs: a full volume makes an empty file, yet refuses the first byte.
_PROBE_BYTES = 4096


def _check_makes_files(path: Path, folder: Path, *, done: str, option: str) -> None:
    """Raise :class:`InputError` unless a file can be made and written in ``folder``, found by making one,
    writing a few bytes to it and syncing them, and removing it: a folder of the system's own (/proc,
    /sys) may be written by root, yet makes no file, and says so as ENOENT, which would read as a missing
    file; a full volume (or a user over quota) makes the file but refuses its bytes, which the model's
    write would learn only after the training."""
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            why = "a folder of the system's own, as /proc and /sys are, that holds only the files it makes"
        else:
            why = exc.strerror or str(exc)
        raise InputError(
            f"{option} {str(path)!r}: no file can be made in {str(folder)!r} ({why}); nothing was {done}."
        ) from None
    try:
        os.write(fd, bytes(_PROBE_BYTES))
        os.fsync(fd)
    except OSError as exc:
        raise InputError(
            f"{option} {str(path)!r}: nothing can be written in {str(folder)!r} ({exc.strerror or exc}: a "
            f"full volume, or this user's quota spent); nothing was {done}."
        ) from None
    finally:
        os.close(fd)
        with suppress(OSError):  # made, so the folder takes files: a probe left behind is a dot file
            os.unlink(probe)


def check_not_an_input(out: Path, inputs: dict[str, Path], *, writes: str, done: str) -> None:
    """Raise :class:`InputError` when ``out`` is the file of one of ``inputs`` (by any name: a link, a
    path of its own), which the ``writes`` would replace; the error says nothing was ``done``.

    >>> check_not_an_input(Path("scores.csv"), {"--data": Path("rows.csv")}, writes="scores", done="scored")
    """
    for option, path in inputs.items():
        try:
            same = os.path.samefile(out, path)
        except OSError:  # either is missing (or unreadable): no file of the two is the other
            continue
        if same:
            raise InputError(
                f"--out {str(out)!r} is the {option} file: the {writes} would replace it; name another "
                f"file; nothing was {done}."
            )
