"""``dhag-pipeline models train HISTORY``: train the plant model on a normal-operation history and publish
it with its reference sample (:mod:`pipeline.modelcmd` runs it, and says its refusals)."""

from __future__ import annotations

import argparse
import functools
import os
import re
import tempfile
from pathlib import Path
from typing import Any, TextIO

from pipeline.config import Settings
from pipeline.errors import ModelUnavailableError
from pipeline.textwidth import escaped

__all__ = ["say_other_sensors", "train_command"]

_MAX_SEED = 2**32 - 1  # DHAG's random_state, as retrain.seed


def train_command(root: str, settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``models train`` into the registry ``root``; returns 0, or raises what ``models`` refuses."""
    from pipeline import historyfile, registry
    from pipeline.plantmodel import history_reference, train_plant_model
    from pipeline.registrypointer import pointer_to_replace
    from pipeline.registrysequence import check_count

    if args.version is not None:  # refused before the training, not after it
        registry.check_new_version(root, args.version)
    if not args.no_promote and Path(root).is_dir():  # what the switch would refuse, likewise
        pointer_to_replace(Path(root), args.version or "the version trained", warn=False)
        registry.history(root)  # damaged: the switch could not add the current version to it
    if Path(root).is_dir():  # a folder where the publication count is written: the publication's refusal
        check_count(Path(root))
    if not 0 <= args.seed <= _MAX_SEED:  # the library's refusal names its random_state, not --seed
        raise ModelUnavailableError(f"--seed must be an integer from 0 to {_MAX_SEED}, got {args.seed}")
    if args.time_budget is not None and not 0 < args.time_budget < float("inf"):
        raise ModelUnavailableError(f"--time-budget must be a number of seconds > 0, got {args.time_budget}")
    try:
        read = historyfile.read_history(args.history)
    except OSError as exc:  # missing or unreadable
        raise ModelUnavailableError(f"cannot read the history {args.history!r}: {exc}") from None
    except historyfile.HistoryError as exc:
        raise ModelUnavailableError(f"the history {args.history!r}: {exc}") from None
    pattern = re.compile(settings.records.asset_id_pattern)
    if refused := sorted(a for a in read.frame["asset_id"].unique() if not pattern.match(a)):
        shown = ", ".join(map(repr, refused[:5]))
        shown += f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        raise ModelUnavailableError(
            f"the history {args.history!r} names assets whose live records the daemon refuses "
            f"(records.asset_id_pattern {pattern.pattern!r}): {shown}; write their ids as the plant's "
            "records do, or widen the pattern in the config"
        )
    for note in read.notes:  # what was left out, what rests on few rows: said before the training
        err.write(f"models train: {note}\n")
    history = read.frame
    _check_writable(Path(root))  # a volume that refuses the publication refuses it before the training
    budget = {} if args.time_budget is None else {"time_budget": args.time_budget}
    model = train_plant_model(history, seed=args.seed, fleet={"history": str(args.history)}, **budget)
    reference = history_reference(history, settings.retrain.reference_sample_size)
    # The span of the history trained on, in epoch seconds, as a retraining run records its window.
    window = {"start": float(history["t"].min()), "end": float(history["t"].max())}
    replaced = None if args.no_promote else _pointed(Path(root))
    if replaced is not None and (collapsed := _collapsed(model)) is not None:
        raise ModelUnavailableError(
            f"the training collapsed ({collapsed}): the model scores every reading alike and would replace "
            f"{replaced}; nothing published, {replaced} stays current. Train again on more history, with "
            "a longer --time-budget or another --seed; --no-promote publishes it without making it current"
        )
    version = registry.publish(
        root,
        model,
        args.version,
        training_window=window,
        derived=False,  # trained from the history alone: the version current then is not its parent
        reference=reference,
        make_current=not args.no_promote,
    )
    t = model.training_
    state = "published, not current" if args.no_promote else "current"
    trained = f"trained on {t['n_train']} rows in {t['fit_seconds']:.0f} s{_cut_short(model)}"
    out.write(
        f"{version} is {state}: {trained}, threshold {model.threshold_:.4f}, {len(reference)} reference "
        "readings\n"
    )
    say_other_sensors(root, version, replaced, settings.model.device, err, "train")
    return 0


def _collapsed(model: Any) -> str | None:
    """How the training collapsed, as ``dhag info`` says it, when the library judges that the model scores
    every row alike (its log's warning); None when it learned."""
    from dhag.retry import collapse_level, describe_health

    t = model.training_
    probe = t.get("outlier_probe_auroc")
    level = collapse_level(
        bool(t.get("collapsed")), (t.get("attempts") or [{}])[-1], float("nan") if probe is None else probe
    )
    return describe_health(t) if level == "warning" else None


def _pointed(root: Path) -> str | None:
    """The version ``current`` names (None: none, or a damaged pointer)."""
    from pipeline.registrypointer import read_pointer

    try:
        return read_pointer(root) if root.is_dir() else None
    except ModelUnavailableError:
        return None


def _cut_short(model: Any) -> str:
    """How far the training got when ``--time-budget`` ended it (the kept training's epochs, or its
    updates within the first); empty when the budget did not end it."""
    t = model.training_
    if t.get("stopped_by") != "time_budget":
        return ""
    per_epoch = max(t["n_train"] // min(model.batch_size, t["n_train"]), 1)
    if t["epochs_run"] == 1 and t["steps"] < per_epoch:
        share = t["steps"] / per_epoch
        got = f"{t['steps']} of the {per_epoch} updates of its first epoch ({share:.1%} of its rows)"
    else:
        got = f"{t['epochs_run']} of its {model.max_epochs} epochs"
    return (
        f" (its --time-budget ({model.time_budget:g} s) ended its training after {got}: raise --time-budget "
        "for a model that has seen more of the history)"
    )


def _check_writable(root: Path) -> None:
    """Raise the :class:`OSError` that publishing into ``root`` would meet creating its files (a
    read-only volume, no permission): a file made and removed in it, or, before it is
    made, in the nearest folder above it that is there (nothing is left behind)."""
    folder = next((p for p in (root.absolute(), *root.absolute().parents) if p.is_dir()), None)
    if folder is None:  # nothing there to write into: the publication says what it meets
        return
    try:
        handle, made = tempfile.mkstemp(dir=folder, prefix=".models-train-", suffix=".tmp")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror) from None  # the registry named, not the file tried
    os.close(handle)
    os.unlink(made)


def say_other_sensors(
    root: str, version: str, replaced: str | None, device: str, err: TextIO, action: str
) -> None:
    """Warn when ``version``, now current, reads other sensors than the ``replaced`` one, which running
    daemons keep serving (:mod:`pipeline.sensorswitch`)."""
    from pipeline import registry, sensorswitch

    load = functools.partial(registry.load_version, root, device=device)
    if replaced is not None and sensorswitch.other_sensors(replaced, load(version), load) is not None:
        err.write(f"models {action}: warning: {escaped(sensorswitch.restart_note(version, replaced))}\n")
