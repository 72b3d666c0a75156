"""What the retrainer's last process left in the label store: the run gauges as it set them, and a run
it died in before recording it (:mod:`pipeline.retrain.interrupted` finds how far that run got).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain import interrupted

__all__ = ["LAST_FAILURE", "LAST_LABEL", "LAST_PROMOTION", "LAST_RUN", "LAST_SUCCESS", "Restored"]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's, as they always have

# The label store's state keys of the runs (when each last ended, and the last label a run used).
LAST_RUN = "last_run_at"
LAST_LABEL = "last_run_label_id"
LAST_SUCCESS = "last_success_at"
LAST_FAILURE = "last_failure_at"
LAST_PROMOTION = "last_promotion_at"


class Restored:
    """The retrainer's start on what its last process left (a mixin of the service; see the module)."""

    settings: Settings
    store: LabelStore
    metrics: RetrainMetrics
    clock: Callable[[], float]
    _recovered: str | None  # the outcome of a run recovered at the start, until it is counted

    def _restore_run_times(self) -> None:
        """Set the run gauges from the label store, as the last process left them, once a run it did not
        live to record is recorded (:meth:`_recover`)."""
        self._recover()
        store, metrics, clock = self.store, self.metrics, self.clock
        # Across restarts, for DhagRetrainingStale: the last success, or else this store's first run.
        metrics.last_success.set(float(store.setdefault_state(LAST_SUCCESS, repr(clock()))))
        metrics.last_promotion.set(float(store.setdefault_state(LAST_PROMOTION, repr(clock()))))
        # For DhagRetrainingFailing: a restart must not hide that the latest run failed.
        metrics.last_failure.set(float(store.get_state(LAST_FAILURE, "0") or 0))

    def _recover(self) -> None:
        """Record the run the last process died in before recording it, as far as it got
        (:func:`~pipeline.retrain.interrupted.recover`): a decision made (promoted, refused, or held by a
        promotion hold) is recorded as :meth:`_finish_run` would have, its labels used; a candidate
        accepted but not promoted, or nothing published, is recorded as failed (killed before its
        decision), its labels new for the next run. Counted in ``dhag_retrain_runs_total`` after its
        record is committed (the stamp goes with it, so a later start counts it no more), by
        :meth:`_count_recovered`."""
        self._recovered = None
        found = interrupted.recover(self.store, self.settings.model.registry)
        if found is None:
            self.store.commit()
            return
        outcome = "failed"  # killed before a decision (out of memory, a node lost): the run ended in an error
        if found.outcome in ("promoted", "rejected", "held") and found.finished is not None:
            outcome = found.outcome
            self.store.set_state(LAST_RUN, repr(self.clock()))
            self.store.set_state(LAST_SUCCESS, repr(found.finished))
            if found.outcome == "promoted":
                self.store.set_state(LAST_PROMOTION, repr(found.finished))
            self.store.set_state(LAST_LABEL, str(found.label_id))
        else:
            self.store.set_state(LAST_FAILURE, repr(time.time()))
        self.store.commit()
        self._recovered = outcome  # counted once the metrics were scraped (_count_recovered)
        if found.version is None:
            said = "it published nothing; counted as failed, its labels count as new"
        elif found.outcome == "not_promoted":
            said = (
                f"its candidate {found.version} was accepted, not promoted; counted as failed, its labels "
                "count as new"
            )
        else:
            said = f"its candidate {found.version} was {found.outcome}; recorded now"
        what = "the retraining run (%s) under way when the retrainer last stopped was not recorded: %s"
        log.warning(what, found.trigger, said)

    def _count_recovered(self) -> None:
        """Count the run :meth:`_recover` recorded in ``dhag_retrain_runs_total`` once the metrics were
        scraped: counted before, on a new pod address, its outcome's series would be seen first at 1,
        and increase() would show no run."""
        if self._recovered is not None and self.metrics.scraped.is_set():
            self.metrics.runs.labels(self._recovered).inc()
            self._recovered = None
