"""``dhag-pipeline models list|show V|promote V|rollback|prune|train HISTORY|hold|release``: look at,
switch, trim and first fill the model registry, and hold the retrainer's promotions.

Exit codes: 0 done; 2 refused (no registry folder, but for ``train``, which creates it; an unknown
version, an artifact that fails to load, nothing to roll back to, a history that cannot train the plant
model or whose training collapsed where a version is current, a write the volume refuses: full, over its
quota or read-only, the file named), with the reason on stderr and the registry unchanged; 1 ``list`` or
``show`` whose output the system refuses (a full disk), 141 its reader gone (:mod:`pipeline.modelout`).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pipeline.alertsfit import fitted_lines, terminal_width
from pipeline.config import Settings
from pipeline.errors import LockFileError, ModelUnavailableError, VersionUnreadableError
from pipeline.modelout import Said, output_refused
from pipeline.textwidth import escaped, table_lines

if TYPE_CHECKING:  # dhag imports torch: loaded only by the actions that read models
    from pipeline.registryinfo import ModelInfo

__all__ = ["EXIT_REFUSED", "add_arguments", "run_models"]

EXIT_REFUSED = 2


def add_arguments(parser: argparse.ArgumentParser, help_config: str) -> None:
    """The ``models`` subcommand's own subcommands and options; ``--config`` and ``--registry`` are taken
    before the action and after it (``models list --config FILE``)."""
    help_registry = "the registry folder (default: model.registry of the settings)"
    parser.add_argument("--config", help=help_config)
    parser.add_argument("--registry", help=help_registry)
    # After the action: given there, they win; not given there, SUPPRESS keeps what came before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=help_config)
    common.add_argument("--registry", default=argparse.SUPPRESS, help=help_registry)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", parents=[common], help="every version, oldest first; '*' marks the current one")
    show = sub.add_parser("show", parents=[common], help="one version's metadata as JSON")
    show.add_argument("version")
    promote = sub.add_parser(
        "promote", parents=[common], help="load and verify a version, then make it current"
    )
    promote.add_argument("version")
    promote.add_argument(
        "--other-sensors",
        action="store_true",
        help="promote a version that reads other sensors than the current one (the plant's sensors "
        "changed): the daemons serve it once restarted",
    )
    sub.add_parser(
        "rollback",
        parents=[common],
        help="make the previous current version current again, passing over (and saying) those in the "
        "history that no longer load",
    )
    hold = sub.add_parser(
        "hold",
        parents=[common],
        help="stop the retrainer's promotions until 'models release': its runs train and judge, and end "
        "'held' (operators' promote and rollback still work)",
    )
    hold.add_argument("--reason", default="", help="why, as models list and the run reports say it")
    hold.add_argument("--operator", help="who (1 to 128 characters; default: the user running the command)")
    sub.add_parser("release", parents=[common], help="end a promotion hold: the retrainer promotes again")
    prune = sub.add_parser(
        "prune",
        parents=[common],
        help="remove old versions, keeping the newest N, the current one, the rollback history and "
        "those it cannot read (listed, with why)",
    )
    prune.add_argument("--keep", type=int, help="versions to keep (default: retrain.keep_versions)")
    prune.add_argument(
        "--dry-run", action="store_true", help="only list what would be removed (and the unreadable kept)"
    )
    train = sub.add_parser(
        "train",
        parents=[common],
        help="train the plant model on a normal-operation history (CSV or Parquet: asset_id, t and the "
        "sensors, as `simulate --history` writes) and publish it with its reference sample",
    )
    train.add_argument("history", help="the history file")
    train.add_argument("--seed", type=int, default=0, help="training seed, 0 to 4294967295 (default 0)")
    train.add_argument(
        "--time-budget",
        type=float,
        help="seconds of training at most, a collapse retry included (default 60)",
    )
    train.add_argument(
        "--version",
        help="the version to publish as (default: its UTC time and publication number, v20261129T101500Z-42)",
    )
    train.add_argument("--no-promote", action="store_true", help="publish without making it current")


def _summary(metrics: object) -> str:
    if not isinstance(metrics, dict) or not metrics:
        return "-"
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items())
    )


def _list(root: str, out: TextIO) -> int:
    from pipeline import promotionhold, registry

    infos = registry.list_models(root)
    if (hold := promotionhold.read(root)) is not None:  # first: what the retrainer will not do
        out.write(hold.line() + "\n")
    try:  # loaded and verified as a daemon starts on it: a damaged or misfiled current one is no use
        registry.load_current(root)
    except ModelUnavailableError as exc:  # the daemon cannot start on this registry: say why first
        out.write(f"current: NONE USABLE: {exc}\n")
    if not infos:
        out.write(f"no models in {root}\n")
        _misnamed(root, out)
        return 0
    rows = [("", "VERSION", "CREATED", "PARENT", "THRESHOLD", "SAMPLE", "GATE", "VALIDATION")]
    for info in infos:
        if info.error is not None:
            rows.append(
                (
                    "*" if info.is_current else "",
                    info.version,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    f"UNREADABLE: {info.error}",
                )
            )
            continue
        threshold = f"{info.threshold:.4f}" if info.threshold is not None else "-"
        rows.append(
            (
                "*" if info.is_current else "",
                info.version,
                escaped(info.created or "-"),  # as saved by hand, it may hold a line break or an ESC
                escaped(info.parent or "-"),
                threshold,
                # A sample retraining from it would fail on, in capitals as an unreadable version is.
                info.reference.upper() if info.reference_error else str(info.reference),
                info.gate(),  # the retrainer's verdict on its candidate: `show V` gives its reasons
                escaped(_summary(info.validation)),
            )
        )
    # Padded by the terminal columns each cell takes: a version saved by hand keeps the metadata it was
    # saved with, whose creation date and parent may be written in a script of wide characters.
    lines = full = table_lines(rows)
    if (width := terminal_width(out)) is not None:  # VALIDATION cut short to fit, as alerts cuts its own
        lines = fitted_lines(rows, width, [len(rows[0]) - 1])
    out.writelines(line + "\n" for line in lines)
    if lines != full:  # an unreadable version's error, cut short in the table: in full
        out.writelines(f"{i.version}: UNREADABLE: {escaped(i.error)}\n" for i in infos if i.error is not None)
    # Under the table, each such sample: why, and what it means (the model serves; retraining fails).
    out.writelines(f"{i.version}: {escaped(i.reference_error)}\n" for i in infos if i.reference_error)
    _misnamed(root, out)
    return 0


def _show(root: str, version: str, out: TextIO, err: TextIO) -> int:
    """One version's metadata as JSON, with the promotion hold in place (``promotion_hold``, as a run
    report records it; null: none), said on stderr too, as ``models list`` starts with it, and for the
    current version who made it current and when (``made_current``, from ``promoted.json``; null when
    it does not say, or for another version)."""
    from pipeline import promotionhold, registry
    from pipeline.promotedby import latest_switch

    info = registry.describe(root, version)
    hold = promotionhold.read(root)
    made = latest_switch(Path(root), version) if info.is_current else None
    shown = info.as_dict() | {
        "promotion_hold": None if hold is None else hold.as_dict(),
        "made_current": made,
    }
    out.write(json.dumps(shown, indent=2, sort_keys=True) + "\n")
    if hold is not None:
        err.write(f"models show: {hold.line()}\n")
    return 0


def _say_refused(info: ModelInfo, previous: str | None, err: TextIO) -> None:
    """Warn that the version just promoted is a candidate the retrainer's gate refused, with its reasons:
    the runbooks promote one by hand after review, but not one picked as the newest by mistake."""
    reasons = (info.retrain_run or {}).get("reasons")
    said = "; ".join(map(str, reasons)) if isinstance(reasons, list) and reasons else "no reason recorded"
    back = f"`models rollback` makes {previous} current again" if previous else "`models rollback` undoes it"
    err.write(
        f"models promote: warning: the retrainer's gate refused {info.version}: {escaped(said)}; it is "
        f"current all the same ({back})\n"
    )


def _misnamed(root: str, out: TextIO) -> None:
    """Say which model files of the registry no version names (a copy made by hand, 'v1 copy.dhag'): the
    daemon, promote and prune never see them."""
    from pipeline.registrypointer import SUFFIX, VERSION

    for path in sorted(Path(root).glob(f"*{SUFFIX}")):
        if not VERSION.fullmatch(path.name[: -len(SUFFIX)]):
            out.write(
                f"not a version: {escaped(repr(path.name))} (a version's name is 1-100 letters, digits, '.', "
                "'_' or '-', starting with a letter or digit): rename it to list, promote or prune it\n"
            )


def _prune(root: str, keep: int, args: argparse.Namespace, out: TextIO) -> int:
    from pipeline.retention import prune

    if keep < 1:
        raise ModelUnavailableError(f"--keep must be at least 1, got {keep}")
    pruned = prune(root, keep=keep, dry_run=args.dry_run)
    removed, verb = pruned.removed, "would remove" if args.dry_run else "removed"
    out.write(f"{verb} {len(removed)} version(s){': ' + ', '.join(removed) if removed else ''}\n")
    for kept in pruned.kept_unreadable:  # never removed: said, one line each, with what to do
        out.write(kept.line() + "\n")
    return 0


def run_models(
    settings: Settings, args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run one ``models`` action, writing to ``out`` / ``err`` (default: stdout / stderr); returns the exit
    code. An ``out`` that refuses a write is no fault of the registry (:mod:`pipeline.modelout`)."""
    said = Said(sys.stdout if out is None else out)
    err = sys.stderr if err is None else err
    return output_refused(said, args.action, _run(settings, args, said, err), err)


def _run(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from dhag.exceptions import DHAGError  # dhag imports torch: only for this command
    from pipeline import registry
    from pipeline.holdcmd import hold_or_release, say_no_hold
    from pipeline.modeltrain import say_other_sensors, train_command
    from pipeline.retention import NO_ROOM, make_room
    from pipeline.versionnear import versions_like

    # A leading ~ is the home folder, as in model.registry, and as the shell takes it but not after '='.
    root = settings.model.registry if args.registry is None else os.path.expanduser(args.registry)
    device = settings.model.device
    try:
        if not root:  # `--registry "$DIR"` with DIR unset: never taken for model.registry
            raise ModelUnavailableError("--registry is empty: give the registry folder")
        if os.path.lexists(root) and not Path(root).is_dir():  # refused before a training, not after
            raise ModelUnavailableError(f"the registry {root!r} is not a folder")
        # A misspelt --registry or model.registry: said so, not "nothing to list" or "removed 0".
        if args.action != "train" and not Path(root).is_dir():  # train publishes the first version
            raise ModelUnavailableError(f"there is no registry folder {root!r}")
        if args.action == "list":
            return _list(root, out)
        if args.action == "show":
            return _show(root, args.version, out, err)
        if args.action == "promote":
            previous = registry.promote(root, args.version, device=device, other_sensors=args.other_sensors)
            if previous == args.version:
                out.write(f"{args.version} is already current: nothing changed\n")
            else:
                out.write(f"{args.version} is current (was {previous or 'none'})\n")
                if args.other_sensors:  # without it, promote refused a version on other sensors
                    say_other_sensors(root, args.version, previous, device, err, "promote")
            info = registry.describe(root, args.version)
            if info.reference_error is not None:
                err.write(f"models promote: warning: {args.version}: {escaped(info.reference_error)}\n")
            if previous != args.version and info.gate() == "REFUSED":  # made current by hand after review
                _say_refused(info, previous, err)
            return 0
        if args.action == "train":
            return train_command(root, settings, args, out, err)
        if args.action in ("hold", "release"):
            return hold_or_release(root, args, out)
        if args.action == "prune":
            return _prune(root, settings.retrain.keep_versions if args.keep is None else args.keep, args, out)
        passed: list[registry.PassedOver] = []
        replaced, restored = registry.rollback(root, device=device, passed_over=passed)
        for entry in passed:  # the history entries it went past, as they no longer load: one line each
            err.write(f"models rollback: passed over {entry.line()}\n")
        out.write(f"{restored} is current again (was {replaced or 'none'})\n")
        say_other_sensors(root, restored, replaced, device, err, "rollback")
        if (said := registry.describe(root, restored).reference_error) is not None:
            err.write(f"models rollback: warning: {restored}: {escaped(said)}\n")
        say_no_hold(root, restored, replaced, err)
        return 0
    except (ModelUnavailableError, LockFileError, DHAGError, ValueError) as exc:  # DHAGError: refused data
        said = str(exc)
        unknown = isinstance(exc, VersionUnreadableError) and exc.fault == "missing"
        if unknown and args.action in ("show", "promote") and (near := versions_like(root, args.version)):
            said += f" Did you mean {' or '.join(near)}?"  # a long name copied without its end, say
        err.write(f"models {args.action}: refused: {said}\n")
        return EXIT_REFUSED
    except (RuntimeError, MemoryError) as exc:  # the device (or the CPU's memory) would not take the model
        err.write(
            f"models {args.action}: refused: model.device {device!r} could not take the model, which says "
            f"nothing of the version; nothing changed. Run it again once the device has room, or on the "
            f"CPU (DHAG_PIPELINE_MODEL__DEVICE=cpu): {exc}\n"
        )
        return EXIT_REFUSED
    except OSError as exc:
        where = f": {exc.filename!r}" if exc.filename is not None else ""  # the file it failed on
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):  # a daemon's read-only mount
            err.write(
                f"models {args.action}: refused: cannot write to the registry {root!r}: {exc.strerror}"
                f"{where}; run it where the registry is writable (in Kubernetes, in the toolbox pod)\n"
            )
        elif exc.errno in NO_ROOM:
            err.write(
                f"models {args.action}: refused: the registry {root!r}: {exc.strerror}{where}; nothing "
                f"changed. {make_room(settings.retrain.keep_versions)}, and run it again\n"
            )
        else:  # a 'current' that is a folder, ...: say what the system said
            err.write(f"models {args.action}: refused: the registry {root!r}: {exc.strerror or exc}{where}\n")
        return EXIT_REFUSED
