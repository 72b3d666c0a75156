"""Command line: ``dhag train | score | info | sign | bench`` (the parser and the commands are
:mod:`dhag.commands`): the exit status, and the one line that says why a command stopped.

This module imports no more than the standard library and dhag's light modules: the installed ``dhag``
script imports it before it calls :func:`main`, and torch and pandas, imported by :mod:`dhag.commands`,
take seconds in which a Ctrl-C, SIGTERM or SIGHUP is answered as it is later (one line, exit status 130,
143 or 129), not with a traceback or a process killed without a word.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dhag.exceptions import DHAGError, InputError
from dhag.rownote import with_row_note, written_cell
from dhag.stopsignals import Stopped, silenced, stopped_by_signals

if TYPE_CHECKING:
    import argparse

__all__ = ["build_parser", "main"]

# The commands, to name the one a Ctrl-C or a signal stopped before its options were parsed.
_COMMANDS = ("train", "score", "info", "sign", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dhag`` command (:func:`dhag.commands.build_parser`)."""
    from dhag.commands import build_parser

    return build_parser()


def _hold_standard_descriptors() -> None:
    """Open the null device on each of descriptors 0, 1 and 2 that the command was started without
    (``2>&-``), and point ``sys.stderr`` there when it has none: what the command says on stderr is then
    said nowhere, and never where Python sends a print to no file, stdout (the scores of ``score --out
    -``); and no file the command opens takes a standard descriptor's number, for a library's message
    to stderr to land in it. ``sys.stdout`` stays None: ``score`` refuses to write its scores there."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:  # the lowest free descriptor is fd, so this is for safety alone
                os.dup2(null, fd)
                os.close(null)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the whole process


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input or settings, 1 for other failures)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _hold_standard_descriptors()
    args = None
    try:
        # SIGTERM and SIGHUP from the start: the imports of torch and pandas take seconds.
        with stopped_by_signals():
            args = build_parser().parse_args(argv)
            logging.basicConfig(
                level=logging.INFO if args.verbose or args.command == "bench" else logging.WARNING,
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
            return int(args.func(args))
    except DHAGError as exc:
        if isinstance(exc, InputError):
            data = getattr(args, "data", None)
            said = with_row_note(str(exc), data, written=written_cell(data, exc.cell))
        else:
            said = str(exc)
        print(f"{_named(args, argv)}: error: {said}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`dhag score ... | head`): nothing left to say
        silenced()
        return 141
    except OSError as exc:  # a file the command was told to write (or read) that the system refuses
        print(f"{_named(args, argv)}: error: {exc}", file=sys.stderr)
        return 2
    except Stopped as exc:  # `timeout`, `kill`, a closed terminal: what was being written is gone
        print(f"{_named(args, argv)}: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"{_named(args, argv)}: interrupted", file=sys.stderr)
        return 130


def _named(args: argparse.Namespace | None, argv: Sequence[str]) -> str:
    """``dhag`` and its command, for the line that says why it stopped: before the options were parsed
    (in the imports of torch and pandas), the command the arguments name, if any."""
    if args is not None:
        return f"dhag {args.command}"
    named = next((a for a in argv if not a.startswith("-")), None)
    return f"dhag{f' {named}' if named in _COMMANDS else ''}"
