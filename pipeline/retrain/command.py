"""``dhag-pipeline retrain --watch | --once``: the retrainer process, with its metrics endpoint.

Exit codes as for ``run``: 0 clean stop (``--once``: the run finished, its candidate promoted or
rejected, or no run for want of normal readings); 1 the run failed, or a stop came before it finished,
or a forced stop; 2 bad configuration (``kafka.bootstrap_servers: embedded`` too: a broker of its
own would be private to it, and it would never train); 3 Kafka unreachable (or ``--once`` could not
catch up with the topics); 4 no current model in the registry (or a registry it cannot write); 5
another retrainer holds the label store (one retrainer per store: two would train and promote over each
other, and commit the same label offsets) or the registry (one retrainer per registry, whatever label
store each is given); 6 the label store (or its lock file) cannot be read or written.

``--once`` ends its log with one line stating the outcome: ``retrain --once done: candidate V promoted
over P (report R)``, ``... rejected, judged against P: <reasons> (report R)``, ``... done: no
retraining run, nothing trained: <why>``, ``retrain --once failed: ...`` or ``retrain --once stopped
...``, followed by ``; N records read, labels and samples saved in the label store``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry

from pipeline.backoff import ThrottledLog
from pipeline.config import Settings
from pipeline.configpaths import label_store_path
from pipeline.configsecurity import set_at
from pipeline.errors import (
    BrokerUnavailableError,
    ConfigError,
    LabelStoreError,
    LockFileError,
    ModelUnavailableError,
)
from pipeline.hostchecks import no_registry_folder
from pipeline.lockfile import flocked, holder
from pipeline.settingnotes import RETRAINER_BROKER, triggers_note

__all__ = ["EXIT_BUSY", "EXIT_STORE", "add_arguments", "label_store_path", "only_retrainer", "run_retrain"]
__all__ += ["only_retrainer_of"]

EXIT_BUSY = 5
EXIT_STORE = 6  # the label store cannot be read or written: corrupt, or its volume full
_REGISTRY_LOCK = ".retrainer.lock"  # in model.registry: held by its one retrainer

log = logging.getLogger(__name__)

# The keys of triggers_note, named where they were set as the watching retrainer starts.
_TRIGGER_KEYS = ("retrain.min_new_labels", "retrain.interval_s", "retrain.on_drift", "drift.enabled")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``retrain`` subcommand's options."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--watch",
        action="store_true",
        help="run until SIGTERM/SIGINT, retraining on triggers (the default, without either switch)",
    )
    mode.add_argument(
        "--once",
        action="store_true",
        help="catch up with the topics, retrain once, exit (0: promoted, rejected, held, or too little "
        "normal data to train; 1: the run failed or was stopped; the last log line says which)",
    )


@contextlib.contextmanager
def only_retrainer(store: Path, setting: str = "retrain.label_store") -> Iterator[bool]:
    """Hold ``<store>.lock`` while the block runs; yields False (holding nothing) when another process
    holds it. The lock goes with the process, so a crashed retrainer never leaves it behind; raises
    :class:`~pipeline.errors.LockFileError` for a folder, a symbolic link, a pipe or a socket in its
    place, naming the store by its path and the ``setting`` that put it there."""
    store.parent.mkdir(parents=True, exist_ok=True)
    purpose = f"the label store {store} ({setting}; one retrainer per label store)"
    with flocked(_lock_of(store), purpose, "retrainer on this store", wait=False) as alone:
        yield alone


@contextlib.contextmanager
def only_retrainer_of(registry: Path) -> Iterator[bool]:
    """Hold the registry's ``.retrainer.lock`` while the block runs; yields False (holding nothing) when
    another process holds it: one retrainer per registry, whatever label store each is given (two would
    train and promote over each other). As :func:`only_retrainer` otherwise."""
    purpose = f"the model registry {registry} (model.registry; one retrainer per registry)"
    with flocked(registry / _REGISTRY_LOCK, purpose, "retrainer on this registry", wait=False) as alone:
        yield alone


def _lock_of(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


def _store_setting(settings: Settings) -> str:
    """The setting that names the label store, as its messages say it."""
    return "retrain.label_store" + ("" if settings.retrain.label_store else " unset: in model.registry")


def run_retrain(settings: Settings, *, once: bool) -> int:
    """Start metrics and the retrainer on the configured broker (an embedded one is refused: exit 2,
    before anything starts); returns the exit code."""
    from dhag import ParameterError, resolve_device
    from pipeline.cli import EXIT_CONFIG, EXIT_MODEL
    from pipeline.startup import STOPPED_BEFORE, stoppable_at_startup

    if settings.kafka.embedded:  # the demo gives its retrainer the address of the broker it started
        where = set_at(settings, "kafka.bootstrap_servers")
        log.error("config error: kafka.bootstrap_servers is embedded%s: %s", where, RETRAINER_BROKER)
        return EXIT_CONFIG
    try:  # as the daemon's model.device: refused at start, not by every run's training
        resolve_device(settings.retrain.device)
    except ParameterError as exc:
        log.error("config error: retrain.device: %s%s", exc, set_at(settings, "retrain.device"))
        return EXIT_CONFIG
    if not once and (note := triggers_note(settings)):
        log.warning("%s%s", note, set_at(settings, *_TRIGGER_KEYS))
    if (missing := no_registry_folder(settings)) is not None:  # create nothing there
        log.error("%s", missing)  # as run says it: the key, and the line or variable that set it
        return EXIT_MODEL
    path, setting = label_store_path(settings), _store_setting(settings)
    with contextlib.ExitStack() as held:
        try:
            alone = held.enter_context(only_retrainer(path, setting))
        except LockFileError as exc:
            log.error("%s (runbook DhagRetrainerDown)", exc)
            return EXIT_STORE
        except OSError as exc:  # a read-only or full volume: the store could not be written either
            failed = Path(exc.filename) if exc.filename else _lock_of(path)
            log.error(
                "cannot %s the label store %s (%s; one retrainer per label store): %s; the retrainer "
                "needs to write beside its store (runbook DhagRetrainerDown)",
                f"open {failed}, the lock of"
                if failed == _lock_of(path)
                else f"make the folder {failed} for",
                path,
                setting,
                "a file is in its place" if isinstance(exc, FileExistsError) else exc.strerror or exc,
            )
            return EXIT_STORE
        if not alone:
            log.error(
                "another retrainer holds the label store %s (its lock %s, last taken by %s); one "
                "retrainer per store: stop that one, or let its 'retrain --once' end (the lock is "
                "released when its process ends, so a file left by a crashed retrainer blocks nothing)",
                path,
                _lock_of(path),
                holder(_lock_of(path)) or "a process that did not say which",
            )
            return EXIT_BUSY
        if (code := _hold_registry(held, Path(settings.model.registry))) is not None:
            return code
        try:
            return stoppable_at_startup(
                lambda: _run_retrain(settings, once=once), STOPPED_BEFORE["retrain"], log
            )
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                return _store_unusable(path, exc)
            log.error("the label store %s is locked by another process (a backup, a copy): %s", path, exc)
            return EXIT_BUSY
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database or disk is full"
            return _store_unusable(path, exc)
        except LabelStoreError as exc:  # a newer store, or no label store at all
            log.error("%s (runbook DhagRetrainerDown)", exc)
            return EXIT_STORE


def _hold_registry(held: contextlib.ExitStack, registry: Path) -> int | None:
    """Take the registry's retrainer lock into ``held``; the exit code when it cannot be taken (another
    retrainer holds it: 5; its file cannot be made, a read-only registry, or is no lock file: 4), else
    None."""
    from pipeline.cli import EXIT_MODEL

    lock = registry / _REGISTRY_LOCK
    try:
        alone = held.enter_context(only_retrainer_of(registry))
    except LockFileError as exc:
        log.error("%s (runbook DhagRetrainerDown)", exc)
        return EXIT_MODEL
    except OSError as exc:
        log.error(
            "cannot open %s, the lock of the model registry %s (model.registry; one retrainer per "
            "registry): %s; the retrainer publishes its candidates there and needs to write to it "
            "(runbook DhagRetrainerDown)",
            lock,
            registry,
            exc.strerror or exc,
        )
        return EXIT_MODEL
    if alone:
        return None
    log.error(
        "another retrainer works on the model registry %s (its lock %s, last taken by %s); one retrainer "
        "per registry, whatever label store each is given: two would train and promote over each "
        "other. Stop that one, or give this one its own model.registry",
        registry,
        lock,
        holder(lock) or "a process that did not say which",
    )
    return EXIT_BUSY


def _store_unusable(path: Path, exc: sqlite3.DatabaseError) -> int:
    problem = str(exc)
    if "full" in problem:
        advice = "its volume needs space (by default it holds the model registry too)"
    elif "readonly" in problem or "unable to open" in problem:
        advice = "check that it is a file the retrainer's user can write, in a folder it can write"
    else:
        advice = (
            "with the retrainer stopped, move it aside with its -wal and -shm files and put a backup in "
            "its place, or none: at its next start the retrainer reads again what it lacks, as far as the "
            "topics retain it"
        )
        if "not a database" in problem:  # damaged from its first page, or never a label store
            advice = f"no label store of any layout version (check retrain.label_store names it); {advice}"
        elif "disk I/O error" in problem:  # SQLite's word for a write past a quota (EDQUOT) too
            advice = (
                "a read or a write of it failed: look at its volume first (a quota it is over, free "
                "space, I/O errors in the kernel log); a refused write leaves the store whole, and "
                "the retrainer goes on from it once the volume takes writes again. Only if the store "
                f"itself stays unreadable, {advice}"
            )
    log.error("the label store %s cannot be used: %s; %s (runbook DhagRetrainerDown)", path, problem, advice)
    return EXIT_STORE


def _run_retrain(settings: Settings, *, once: bool) -> int:
    from pipeline.cli import EXIT_CONFIG, EXIT_MODEL
    from pipeline.cpuquota import limit_torch_threads
    from pipeline.errors import EXIT_BROKER
    from pipeline.labelstore import LabelStore
    from pipeline.metrics import RetrainMetrics, serve_configured
    from pipeline.probes import Probes, connecting
    from pipeline.registry import current
    from pipeline.retrain.service import Retrainer
    from pipeline.signals import install_signals
    from pipeline.topics import provision_topics

    limit_torch_threads("training")
    registry = CollectorRegistry()
    metrics = RetrainMetrics(registry)
    server, probes = None, Probes()
    store = LabelStore(label_store_path(settings))
    try:
        if settings.metrics.enabled:
            served = serve_configured(registry, settings, probes, "retrain.metrics_port", log)
            if served is None:
                return EXIT_CONFIG
            server, port = served
            log.info("retrainer metrics on http://%s:%d/metrics", settings.metrics.host, port)
        try:  # said now, as the daemon says it, not once Kafka answers (exit 3 while it is away)
            current(settings.model.registry)
        except ModelUnavailableError as exc:
            log.error("%s", exc)
            return EXIT_MODEL
        bootstrap = settings.kafka.bootstrap_servers  # an address: run_retrain refused embedded
        probes.attach(ready=connecting(bootstrap), live=probes.live)  # "starting" said nothing of Kafka
        topics = settings.kafka.topics
        names = [topics.input, topics.alerts, topics.labels, topics.labels_dlq]
        provision_topics(
            settings.kafka,
            bootstrap,
            dict.fromkeys(names, topics.partitions),
        )
        retrainer = Retrainer(settings, store, metrics, bootstrap_servers=bootstrap)
        probes.attach(ready=retrainer.not_ready, live=retrainer.not_live)
        install_signals(retrainer.request_stop, settings.shutdown_grace_s, stopping=retrainer.stopping)
        return retrainer.run(once=once)  # --once ends its log with the run's outcome and report
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except BrokerUnavailableError as exc:
        log.error("%s", exc)
        return EXIT_BROKER
    finally:
        store.close()
        if server is not None:
            server.shutdown()
        ThrottledLog.flush_all(final=True)  # what its throttled logs held back, no later line will say
