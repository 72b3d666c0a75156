"""The options of ``dhag-pipeline alerts`` and ``label`` (:mod:`pipeline.alertscmd` runs them)."""

from __future__ import annotations

import argparse

from pipeline.alertsince import SINCE_HELP

__all__ = ["add_alerts_arguments", "add_label_arguments"]


def add_alerts_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``alerts`` subcommand's options."""
    parser.add_argument("--open", action="store_true", help="only episodes not resolved yet")
    parser.add_argument("--asset", help="only this asset (its exact id)")
    parser.add_argument("--limit", type=int, default=20, help="newest N episodes (default 20)")
    parser.add_argument("--since", metavar="DURATION_OR_TIME", help=SINCE_HELP)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--bootstrap", help="Kafka address (default: kafka.bootstrap_servers)")


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``label`` subcommand's options."""
    parser.add_argument("alert_id", help="the alert to label (see `dhag-pipeline alerts`)")
    verdict = parser.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--anomaly", action="store_true", help="confirm: a real anomaly")
    verdict.add_argument("--normal", action="store_true", help="reject: a false alarm")
    parser.add_argument("--operator", required=True, help="who labels")
    parser.add_argument("--note", help="free text kept with the label")
    parser.add_argument(
        "--unchecked",
        action="store_true",
        help="write the label without finding the alert on the alerts topic (one aged off it that the "
        "retrainer still keeps); the retrainer dead-letters it if it does not know the alert either",
    )
    parser.add_argument("--bootstrap", help="Kafka address (default: kafka.bootstrap_servers)")
