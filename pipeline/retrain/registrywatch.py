"""What the retrainer watches of its registry between runs: ``dhag_registry_versions`` (each version by
state, counted again every :data:`REGISTRY_SURVEY_S` with no run under way, and by each run's prune)
and ``dhag_retrain_promotions_held`` (a promotion hold in place, at start, each poll and each run's
end)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from pipeline import promotionhold
from pipeline.config import Settings
from pipeline.metrics import RetrainMetrics
from pipeline.retention import survey

__all__ = ["REGISTRY_SURVEY_S", "RegistryWatch"]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's, as they always have

# dhag_registry_versions is counted again this often between runs: a version an operator removed or
# mended by hand, or a read error that passed, leaves the count within the hour, not at the next run.
REGISTRY_SURVEY_S = 3600.0


class RegistryWatch:
    """The retrainer's registry gauges (a mixin of the service; see the module): state is the service's."""

    settings: Settings
    metrics: RetrainMetrics
    monotonic: Callable[[], float]
    _training: Future[Any] | None
    _surveyed: float  # when dhag_registry_versions was last counted (monotonic)

    def _watch_hold(self) -> None:
        """Set ``dhag_retrain_promotions_held`` (at start, each poll, each run's end)."""
        self.metrics.promotions_held.set(promotionhold.read(self.settings.model.registry) is not None)

    def _survey_registry(self) -> None:
        """Set ``dhag_registry_versions`` at start and every ``REGISTRY_SURVEY_S`` with no run under way
        (each run's prune sets it too): one read of every artifact's header and checksum, no model
        built."""
        self._watch_hold()
        self._surveyed = self.monotonic()
        try:
            self.metrics.set_registry_versions(survey(self.settings.model.registry))
        except OSError as exc:  # the runs' prune says more; the gauge waits for it
            log.warning("cannot count the registry's versions: %s", exc)

    def _survey_when_due(self) -> None:
        """Count the registry's versions again once ``REGISTRY_SURVEY_S`` has passed since the last count
        (a run's prune counts too), never while a run may be publishing or pruning."""
        self._watch_hold()
        if self._training is None and self.monotonic() - self._surveyed >= REGISTRY_SURVEY_S:
            self._survey_registry()
