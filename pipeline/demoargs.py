"""The options of ``dhag-pipeline demo``: how big and how fast the simulated plant runs, how its first
model trains and how its simulated operator answers."""

from __future__ import annotations

import argparse

from dhag.outpath import given_path

__all__ = ["TRAINING_OPTIONS", "add_arguments", "training_given"]

#: The options of the first model's training, by their attribute: a model the registry has for the
#: simulated plant is reused, and they are not applied to it (the retrainer's runs take the last two).
TRAINING_OPTIONS = {
    "history_hours": "--history-hours",
    "max_epochs": "--max-epochs",
    "time_budget": "--time-budget",
}


def add_arguments(demo: argparse.ArgumentParser, help_config: str) -> None:
    """Every option of ``demo``, each with its default in its help."""
    demo.add_argument("--config", help=help_config)
    demo.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    demo.add_argument("--assets", type=int, default=24, help="fleet size (default 24)")
    demo.add_argument("--seed", type=int, default=0, help="the simulated plant's seed (default 0)")
    demo.add_argument("--rate", type=float, default=48.0, help="records per second (default 48)")
    demo.add_argument("--speedup", type=float, default=10.0, help="simulated seconds per second (default 10)")
    demo.add_argument(
        "--fault-rate", type=float, default=0.5, help="faults per asset per simulated hour (default 0.5)"
    )
    demo.add_argument("--every", type=float, default=5.0, help="seconds between summaries (default 5)")
    demo.add_argument(
        "--stop",
        action="append",
        metavar="ASSET:AT:DURATION",
        help="switch ASSET off AT simulated seconds after the plant starts streaming, for DURATION, then "
        "start it again cold (a standby machine, a planned stop; no fault); repeatable; default: none",
    )
    # The first model's training: no default here, so that a model reused is said to ignore them.
    demo.add_argument("--history-hours", type=float, help="training history, simulated hours (default 24)")
    demo.add_argument(
        "--max-epochs",
        type=int,
        help="training epochs at most, of the first model and each retraining (default 30)",
    )
    demo.add_argument(
        "--time-budget",
        type=float,
        help="seconds of training, retry included, of the first model and each retraining (default 60)",
    )
    demo.add_argument("--json", type=given_path, help="also write the final summary to this file")
    demo.add_argument(
        "--operator-delay", type=float, default=20.0, help="seconds until an alert is labelled (default 20)"
    )
    demo.add_argument(
        "--operator-errors", type=float, default=0.05, help="share of wrong labels, 0-1 (default 0.05)"
    )
    demo.add_argument(
        "--retrain-labels", type=int, default=10, help="labels that trigger a retraining run (default 10)"
    )
    demo.add_argument("--no-retrain", action="store_true", help="run without the retrainer")
    demo.add_argument(
        "--registry",
        help="the folder of the demo's models (default: model.registry; refused when its current model "
        "is not one the demo trained)",
    )


def training_given(args: argparse.Namespace) -> dict[str, float]:
    """The training options given on the command line, by their attribute (the others keep
    :class:`pipeline.demo.DemoOptions`' defaults).

    >>> training_given(argparse.Namespace(history_hours=None, max_epochs=5, time_budget=None))
    {'max_epochs': 5}
    """
    return {name: value for name in TRAINING_OPTIONS if (value := getattr(args, name)) is not None}
