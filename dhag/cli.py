"""Command line: ``dhag train | score | info | sign | bench`` (the parser and the commands are
:mod:`dhag.commands`): the exit status, and the one line that says why a command stopped."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from dhag.commands import build_parser
from dhag.exceptions import DHAGError, InputError
from dhag.rownote import with_row_note, written_cell
from dhag.stopsignals import Stopped, silenced, stopped_by_signals

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input or settings, 1 for other failures)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "bench" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        with stopped_by_signals():
            return int(args.func(args))
    except DHAGError as exc:
        if isinstance(exc, InputError):
            data = getattr(args, "data", None)
            said = with_row_note(str(exc), data, written=written_cell(data, exc.cell))
        else:
            said = str(exc)
        print(f"dhag {args.command}: error: {said}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`dhag score ... | head`): nothing left to say
        silenced()
        return 141
    except OSError as exc:  # a file the command was told to write (or read) that the system refuses
        print(f"dhag {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Stopped as exc:  # `timeout`, `kill`, a closed terminal: what was being written is gone
        print(f"dhag {args.command}: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"dhag {args.command}: interrupted", file=sys.stderr)
        return 130
