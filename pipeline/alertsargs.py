"""The options of ``dhag-pipeline alerts`` and ``label`` (:mod:`pipeline.alertscmd` runs them), and how
``label`` names them when the labels contract refuses what they gave."""

from __future__ import annotations

import argparse
import re
from typing import Any

from pipeline.alertid import ID_RULE
from pipeline.alertsince import SINCE_HELP
from pipeline.labels import MAX_NOTE, MAX_OPERATOR, LabelError, LabelReason
from pipeline.operatorname import operator_name, unnamed_character

__all__ = ["add_alerts_arguments", "add_label_arguments", "label_refusal", "since_joined"]

#: What each field of a label that ``label`` fills from its command line must be, by the option that
#: gives it.
_RIGHT = {
    "alert_id": (
        "ALERT_ID",
        f"must be an alert id as `dhag-pipeline alerts` lists it and the retrainer keeps it: {ID_RULE} "
        "(no control or line-break characters)",
    ),
    "operator": (
        "--operator",
        f"must name who labels in 1 to {MAX_OPERATOR} characters, not blank and without control or "
        "invisible characters",
    ),
    "note": ("--note", f"must be at most {MAX_NOTE} characters"),
}
#: How much of a refused value is quoted back.
_QUOTED = 40


def add_alerts_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``alerts`` subcommand's options."""
    parser.add_argument("--open", action="store_true", help="only episodes not resolved yet")
    parser.add_argument(
        "--asset",
        help="only this asset (its exact id); refused (exit 2) when no event of the alerts topic names it",
    )
    parser.add_argument("--limit", type=int, default=20, help="newest N episodes (default 20)")
    parser.add_argument("--since", metavar="DURATION_OR_TIME", help=SINCE_HELP)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--bootstrap", help="Kafka address (default: kafka.bootstrap_servers)")


def since_joined(argv: list[str]) -> list[str]:
    """``argv`` (of ``alerts``) with a ``--since`` whose value begins with a minus sign and a digit joined
    to it: argparse takes ``-5m`` for an option and refuses ``--since -5m`` as 'expected one argument',
    where ``--since=-5m`` reaches :func:`~pipeline.alertsince.parse_since`, which says what it takes.

    >>> since_joined(["alerts", "--since", "-5m", "--json"]), since_joined(["alerts", "--since", "--json"])
    (['alerts', '--since=-5m', '--json'], ['alerts', '--since', '--json'])
    """
    joined: list[str] = []
    for word in argv:
        if joined[-1:] == ["--since"] and re.match(r"-\d", word) and "--" not in joined:
            joined[-1] = f"--since={word}"
        else:
            joined.append(word)
    return joined


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``label`` subcommand's options."""
    parser.add_argument(
        "alert_id", metavar="ALERT_ID", help="the alert to label (see `dhag-pipeline alerts`)"
    )
    verdict = parser.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--anomaly", action="store_true", help="confirm: a real anomaly")
    verdict.add_argument("--normal", action="store_true", help="reject: a false alarm")
    parser.add_argument(
        "--operator",
        required=True,
        help=f"who labels (1 to {MAX_OPERATOR} characters; taken without spaces around it, a run of "
        "spaces inside as one)",
    )
    parser.add_argument("--note", help=f"free text kept with the label (up to {MAX_NOTE} characters)")
    parser.add_argument(
        "--unchecked",
        action="store_true",
        help="write the label without finding the alert on the alerts topic (one aged off it that the "
        "retrainer still keeps); the retrainer dead-letters it if it does not know the alert either",
    )
    parser.add_argument("--bootstrap", help="Kafka address (default: kafka.bootstrap_servers)")


def label_refusal(exc: LabelError) -> str:
    """Why ``label`` refuses the label its options make, naming the option rather than the message's
    field, and quoting at most the first 40 characters of the value given.

    >>> from pipeline.labels import label_message
    >>> try:
    ...     label_message(alert_id="a1", label="normal", operator="k" * 500)
    ... except LabelError as exc:
    ...     print(label_refusal(exc))
    --operator must name who labels in 1 to 128 characters, not blank and without control or invisible \
characters; got 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk'... (500 characters without the spaces around it)
    """
    if exc.reason == LabelReason.OVERSIZED:  # what the retrainer dead-letters: the note makes it so
        return f"with its --note {exc.detail} (retrain.max_label_bytes)"
    if exc.field not in _RIGHT:
        return exc.detail
    option, right = _RIGHT[exc.field]
    return f"{option} {right}; got {_operator(exc) if exc.field == 'operator' else _quoted(exc.given)}"


def _operator(exc: LabelError) -> str:
    """An ``--operator`` refused, quoted as the contract judged it: a name holding a character no name
    holds (checked first, whatever its length) with that character and its place; a name too long as
    the name kept, with its length counted so (without the spaces around it)."""
    given = exc.given
    if not isinstance(given, str):
        return _quoted(given)
    if exc.kind == "string_too_long":
        name = operator_name(given)
        return f"{name[:_QUOTED]!r}... ({len(name)} characters without the spaces around it)"
    held = unnamed_character(given)
    return _quoted(given) + (f", which holds {held}" if held else "")


def _quoted(value: Any) -> str:
    if isinstance(value, str) and len(value) > _QUOTED:
        return f"{value[:_QUOTED]!r}... ({len(value)} characters)"
    return repr(value)
