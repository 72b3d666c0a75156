"""The retrainer's runs: when one is due, the worker thread that trains it, and what its end leaves.

A run starts when ``min_new_labels`` labels arrived since the last run, when ``interval_s`` passed, on
a shift of the current model's scores of the sampled readings (ADWIN, ``drift.delta``), or on demand
(``--once``), ``min_interval_s`` apart. It trains in a worker thread while the loop keeps consuming.
Its end is recorded in the label store (the next triggers count from it) and in the run metrics, across
restarts; ``--once`` ends the log with a line saying the run's outcome and what was read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from dhag.exceptions import DHAGError
from pipeline.config import RetrainSettings, Settings
from pipeline.errors import PipelineError
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain import interrupted
from pipeline.retrain.cycle import RegistryFullError, RunResult, run_cycle
from pipeline.retrain.openepisodes import open_episode_ends
from pipeline.retrain.probing import SNAPSHOT_S
from pipeline.retrain.restored import LAST_FAILURE, LAST_LABEL, LAST_PROMOTION, LAST_RUN, LAST_SUCCESS
from pipeline.retrain.sensorset import SensorsChangedError
from pipeline.retrain.training import NotEnoughDataError, RunStoppedError

__all__ = ["FORGET_PER_RUN", "RunNotStartedError", "Runs"]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's, as they always have

_SCHEDULE_FROM = "schedule_from"  # the first start, where interval_s counts from before any run
# Alerts one run's start forgets at most (about 2 s of the loop's time): a backlog (a first retention, a
# long stop) is forgotten over several runs, not in one start that outlasts the liveness probe.
FORGET_PER_RUN = 20_000


# Raised on purpose, with a message that says what happened and what to do (a damaged reference sample,
# a full registry, sensors renamed, a training that diverged): logged in one line, without a traceback.
_SAID_WHOLE = (PipelineError, DHAGError, SensorsChangedError)


def _raised(exc: BaseException) -> str:
    """What a failed run raised, as its error line and ``--once``'s closing line say it."""
    if isinstance(exc, RegistryFullError):  # its message starts with what happened
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RunNotStartedError(Exception):
    """A run's start could not read or commit the label store; the run counts as failed, the loop goes
    on."""


class Runs:
    """The retrainer's runs (a mixin of the service; see the module): state is the service's."""

    settings: Settings
    cfg: RetrainSettings
    store: LabelStore
    metrics: RetrainMetrics
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    last_result: RunResult | None
    _stop: threading.Event
    _drifted: bool  # the sampled readings' scores shifted since the last run
    _training: Future[RunResult | None] | None
    _training_label_id: int
    _no_run: str | None  # why the latest run trained or published nothing
    _model_checked: float
    _surveyed: float  # when dhag_registry_versions was last counted (monotonic)
    _read: int
    _one_off = False  # --once: its run is waited for to its end, not for half the grace

    if TYPE_CHECKING:  # the service's

        def catch_up(self, timeout_s: float = 300.0) -> None: ...

        def _count_recovered(self) -> None: ...

        def _current_model(self) -> tuple[str, Any, Any] | None: ...

        def _watch_hold(self) -> None: ...

    def stopping(self) -> str:
        """What a stop finishes before the retrainer ends, as it stands now (the SIGTERM log line)."""
        if self._training is None or self._training.done():
            return "finishing the poll and stopping (no retraining run under way)"
        waited = (
            "waited for within the shutdown grace"
            if self._one_off
            else f"waited for up to {self.settings.shutdown_grace_s / 2:.0f} s, half the shutdown grace"
        )
        return (
            "finishing the poll, then the retraining run under way (it ends at its next epoch, promoting "
            f"nothing; {waited}), and stopping"
        )

    def due(self) -> str | None:
        """The trigger that asks for a run now (``labels``, ``schedule``, ``drift``), or None."""
        now = self.clock()
        last_run = float(self.store.get_state(LAST_RUN, "0") or 0)
        if last_run > now:
            # The clock was stepped back (or the last run recorded a clock that ran ahead): count from
            # now, or no run would start until the clock caught up, hours or years later.
            log.warning("the last run is recorded %.0f s in the future; counting from now", last_run - now)
            last_run = now
            self.store.set_state(LAST_RUN, repr(now))
        if last_run > 0 and now - last_run < self.cfg.min_interval_s:
            return None
        last_label = int(self.store.get_state(LAST_LABEL, "0") or 0)
        if self.cfg.min_new_labels and self.store.labels_since(last_label) >= self.cfg.min_new_labels:
            return "labels"
        if self.cfg.interval_s and now - (last_run or self._schedule_start(now)) >= self.cfg.interval_s:
            return "schedule"
        if self._drifted:
            return "drift"
        return None

    def _schedule_start(self, now: float) -> float:
        """The first start (stored then, or again after a clock stepped back past it), not a last run:
        the first run on labels or drift waits for no ``min_interval_s``."""
        if not 0 < (first := float(self.store.get_state(_SCHEDULE_FROM, "0") or 0)) <= now:
            first = now
            self.store.set_state(_SCHEDULE_FROM, repr(now))
        return first

    def start_run(self, trigger: str) -> Future[RunResult | None]:
        """Forget the alerts past ``alert_retention_s`` (at most :data:`FORGET_PER_RUN`), snapshot the
        store and train in the worker thread. A start that fails (the store locked past its timeout, its
        volume full, memory), its first commit of what the loop wrote included, undoes its own writes and
        returns the run failed (:class:`RunNotStartedError`):
        the loop polls on, and the next start waits ``min_interval_s``."""
        started = time.monotonic()
        try:
            self.store.commit()  # what the loop wrote stands, whatever the start does
        except Exception as exc:  # noqa: BLE001 - the run fails; the loop goes on
            # Not undone: the start wrote nothing yet, and the loop's writes (a finished run's record)
            # stay for the loop's own commit, which tries again.
            return self._not_started(trigger, exc, step="committing to", undo=False)
        try:
            labelled, normal, retired, episodes, forgot = self._snapshot()
            # Committed before it trains: a kill from here on leaves the stamp for the next start.
            stamp = interrupted.begin(self.store, label_id=self._training_label_id, trigger=trigger)
            self.store.commit()
        except Exception as exc:  # noqa: BLE001 - the run fails; the loop goes on
            return self._not_started(trigger, exc)
        if (took := time.monotonic() - started) > SNAPSHOT_S / 2:
            log.warning(
                "reading the label store for the run took %.0f s, polling nothing meanwhile (the liveness "
                "probe allows %.0f s more than a poll)",
                took,
                SNAPSHOT_S,
            )
        self._drifted = False
        what = f"{len(labelled)} labelled readings, {len(normal)} normal readings"
        more = " (more at the next runs)" if forgot >= FORGET_PER_RUN else ""
        log.info("retraining (%s): %s; %d old alert(s) forgotten%s", trigger, what, forgot, more)
        future: Future[RunResult | None] = Future()

        def work() -> None:
            try:
                future.set_result(self._run(trigger, labelled, normal, retired, episodes, stamp))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)

        # A stop ends the training at its next epoch (train_candidate's stop), so the run is over well
        # within the grace. A daemon thread all the same: a stop never waits on the rest of a run that
        # overruns (its artifact and the registry switch are atomic: at most an unpromoted candidate).
        threading.Thread(target=work, name="retrain", daemon=True).start()
        self._training = future
        return future

    def _snapshot(self) -> tuple[list[Any], list[Any], Any, dict[str, tuple[float, float]], int]:
        """``(labelled, normal, retired, episodes, forgot)`` for a run, from the label store."""
        cfg, forgot = self.cfg, 0
        # Once per run: forgetting alerts changes no label, and the normal sample reads the same ones.
        labelled = self.store.latest_labels()
        if cfg.alert_retention_s is not None:  # the alerts no label is expected for any more
            now = self.clock()
            before = now - cfg.alert_retention_s
            forgot = self.store.prune_alerts(
                seen_before=before,
                margin_s=cfg.episode_margin_s,
                latest=labelled,
                now=now,
                limit=FORGET_PER_RUN,
            )
            # Their ids, kept as long again (labels by id of them told apart: pipeline.forgottenalerts).
            self.store.prune_forgotten(forgotten_before=before, now=now)
        ends = self._open_episode_ends()
        normal = self.store.normal_sample(margin_s=cfg.episode_margin_s, latest=labelled, ends=ends)
        # After forgetting: a forgotten alert's label keeps the margin around its opening reading.
        episodes = self.store.confirmed_episodes(labelled, ends)
        # From the store's readings, not the normal sample (which leaves out readings near alerts).
        retired = self.store.retired_before(cfg.asset_retire_s, now=self.clock())
        self._training_label_id = self.store.last_label_id()
        return labelled, normal, retired, episodes, forgot

    def _not_started(
        self, trigger: str, exc: Exception, *, step: str = "reading", undo: bool = True
    ) -> Future[RunResult | None]:
        """A run whose start failed at ``step`` of the label store: its writes undone (``undo``), logged,
        counted as failed; its labels still new."""
        try:
            if undo:
                self.store.rollback()  # a prune that failed midway forgets nothing
        except Exception as again:  # noqa: BLE001 - said; the failure stands as it is
            log.warning("cannot undo the failed start's writes to the label store: %s", again)
        self._training_label_id = -1  # its labels count as new at the next run
        why = f"{step} the label store failed: {type(exc).__name__}: {exc}"
        log.error(
            "retraining run (%s) could not start: %s; the next is tried after retrain.min_interval_s "
            "(%.0f s)",
            trigger,
            why,
            self.cfg.min_interval_s,
            exc_info=exc,
        )
        self.metrics.runs.labels("failed").inc()
        self.metrics.last_run.set(time.time())
        self.metrics.last_failure.set(time.time())
        future: Future[RunResult | None] = Future()
        error = RunNotStartedError(why)
        error.__cause__ = exc
        future.set_exception(error)
        self._training = future
        return future

    def _open_episode_ends(self) -> dict[str, float]:
        """Where the episodes no event resolved ended, as the current model finds their assets' sampled
        readings (:func:`~pipeline.retrain.openepisodes.open_episode_ends`); none without a current
        model, or when it cannot score them (they stay open: their readings stay out)."""
        current = self._current_model()
        if current is None or current[2] is None:
            return {}
        try:
            return open_episode_ends(self.store, current[2], self.settings.alerts)
        except Exception as exc:  # noqa: BLE001 - the run goes on with the episodes as they were
            log.warning("cannot tell where the alert episodes never resolved ended: %s", exc)
            return {}

    def _run(
        self,
        trigger: str,
        labelled: list[Any],
        normal: list[Any],
        retired: tuple[float, dict[str, float]] | None,
        episodes: dict[str, tuple[float, float]] | None = None,
        stamp: dict[str, Any] | None = None,
    ) -> RunResult | None:
        started = time.perf_counter()
        self._no_run = None
        try:
            registry = self.settings.model.registry
            result = run_cycle(
                registry,
                labelled,
                normal,
                self.cfg,
                trigger=trigger,
                stop=self._stop,
                retired=retired,
                episodes=episodes,
                run=stamp,
            )
        except NotEnoughDataError as exc:
            log.warning("no retraining run: %s", exc)
            self._no_run = str(exc)
            return None
        except RunStoppedError as exc:  # its labels count as new again at the next start
            log.info("retraining run given up, nothing promoted: %s", exc)
            return None
        except _SAID_WHOLE as exc:  # said whole in one line: a traceback adds nothing to it
            log.error("retraining run (%s) failed: %s", trigger, _raised(exc))
            self._count_failed(started)
            raise
        except BaseException as exc:  # noqa: BLE001 - re-raised; whatever ends the run, its traceback is logged
            # Not only an Exception: GeneratorExit, or a library's own BaseException, raised in the run's
            # thread ends the run as well, and --once's closing line points at this traceback.
            log.error("retraining run (%s) failed: %s", trigger, _raised(exc), exc_info=exc)
            self._count_failed(started)
            raise
        self.metrics.runs.labels(result.outcome).inc()
        self._watch_hold()
        if result.registry_versions is not None:  # counted by its prune, from the listing it made
            self.metrics.set_registry_versions(result.registry_versions)
            self._surveyed = self.monotonic()
        for step in result.after_failures:  # the decision stands; the registry needs a look
            self.metrics.after_decision_failures.labels(step).inc()
        self.metrics.last_run.set(time.time())
        self.metrics.last_success.set(time.time())
        if result.outcome == "promoted":
            self.metrics.last_promotion.set(time.time())
        self.metrics.duration.observe(time.perf_counter() - started)
        return result

    def _count_failed(self, started: float) -> None:
        """Count a run that failed, which took from ``started`` (``time.perf_counter``) until now."""
        self.metrics.runs.labels("failed").inc()
        self.metrics.last_run.set(time.time())
        self.metrics.last_failure.set(time.time())
        self.metrics.duration.observe(time.perf_counter() - started)

    def _finish_run(self) -> None:
        """Record a finished run in the store (the next triggers count from it). A run skipped for want
        of normal readings leaves the labels counted as new, so it is tried again after
        ``min_interval_s``."""
        assert self._training is not None
        interrupted.end(self.store)  # with the record, in one transaction
        self.store.set_state(LAST_RUN, repr(self.clock()))
        failed = self._training.exception() is not None
        result = None if failed else self._training.result()
        if failed:
            self.store.set_state(LAST_FAILURE, repr(time.time()))
        if result is not None:
            self.last_result = result
            self.store.set_state(LAST_SUCCESS, repr(time.time()))
            if result.outcome == "promoted":
                self.store.set_state(LAST_PROMOTION, repr(time.time()))
        if (failed or result is not None) and self._training_label_id >= 0:
            self.store.set_state(LAST_LABEL, str(self._training_label_id))
        self._training = None
        self._model_checked = 0.0

    def _once(self) -> int:
        """``--once``: catch up, run once, and end the log with the outcome; returns the exit code (0 the
        run finished, promoted, rejected, held or with nothing to train on; 1 it failed, or a stop came
        first)."""
        self._one_off = True
        self.catch_up()
        self._count_recovered()
        if self._stop.is_set():  # caught up with part of the topics only: no run on them
            return self._closing(1, "stopped before the retraining run, nothing trained")
        future = self.start_run("on_demand")
        error = future.exception()
        result = None if error is not None else future.result()
        self._finish_run()
        self.store.commit()
        if isinstance(error, RunNotStartedError):
            return self._closing(1, f"failed: the retraining run could not start: {error}")
        if isinstance(error, _SAID_WHOLE):  # logged in one line by _run, no traceback
            return self._closing(1, f"failed: {_raised(error)}")
        if error is not None:  # logged with its traceback by _run, whatever it is
            return self._closing(1, f"failed: the retraining run raised {_raised(error)} (traceback above)")
        if result is None and self._stop.is_set():
            return self._closing(1, "stopped: the retraining run was given up at the stop, nothing promoted")
        if result is None:
            return self._closing(0, f"done: no retraining run, nothing trained: {self._no_run}")
        if result.outcome == "promoted":
            what = f"promoted over {result.parent}"
        elif result.outcome == "held":
            what = f"held, accepted against {result.parent}: {'; '.join(result.content['reasons'])}"
        else:
            what = f"rejected, judged against {result.parent}: {'; '.join(result.content['reasons'])}"
        # A failure after the decision (pruning, the report) leaves the decision standing: said, not hidden.
        after = f"; then {result.after_error}" if result.after_error else f" (report {result.report})"
        return self._closing(0, f"done: candidate {result.candidate} {what}{after}")

    def _closing(self, code: int, outcome: str) -> int:
        """Log ``--once``'s last line, its ``outcome`` and what it read (saved: each poll commits the
        store); returns ``code``."""
        log.log(
            logging.INFO if code == 0 else logging.WARNING,
            "retrain --once %s; %d records read, labels and samples saved in the label store",
            outcome,
            self._read,
        )
        return code
