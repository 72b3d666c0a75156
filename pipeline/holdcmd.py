"""``dhag-pipeline models hold`` and ``models release``, and what ``models rollback`` says of a hold:
the promotion hold (:mod:`pipeline.promotionhold`) as the ``models`` command shows and places it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from pipeline import promotionhold
from pipeline.promotedby import by_retrainer
from pipeline.textwidth import escaped

__all__ = ["hold_or_release", "say_no_hold"]


def hold_or_release(root: str, args: argparse.Namespace, out: TextIO) -> int:
    """``models hold`` or ``models release`` (``args.action``) on the registry ``root``; returns 0."""
    if args.action == "hold":
        # Checked first, to name the options in what is refused.
        operator = (
            None if args.operator is None else promotionhold.checked_operator(args.operator, "--operator")
        )
        reason = promotionhold.checked_reason(args.reason, "--reason")
        hold, new = promotionhold.place(root, reason=reason, operator=operator)
        out.write(f"{hold.line(already=not new)}\n")
        return 0
    if (released := promotionhold.release(root)) is None:
        out.write("no promotion hold in place: nothing to release\n")
    elif released.error is not None:
        out.write(f"promotions released: removed the hold file that could not be read ({released.error})\n")
    else:
        who = f"{escaped(released.operator)}'s hold of {escaped(released.since)}"
        out.write(f"promotions released ({who}): the retrainer promotes what its next run accepts\n")
    return 0


def say_no_hold(root: str, restored: str, replaced: str | None, err: TextIO) -> None:
    """After a rollback from ``replaced``, the retrainer's promotion
    (:func:`pipeline.promotedby.by_retrainer`), say how to stop the retrainer promoting again, unless a
    hold is in place."""
    if replaced is None or not by_retrainer(Path(root), replaced):
        return  # an operator's own choice: nothing the retrainer would make again
    if promotionhold.read(root) is None:
        err.write(
            f"models rollback: note: the retrainer's next run trains from {restored} on the same labels "
            "and may promote a model like the one rolled back: `dhag-pipeline models hold --reason TEXT` "
            "stops its promotions until `models release`\n"
        )
