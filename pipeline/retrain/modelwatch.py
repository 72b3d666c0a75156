"""The current model as the retrainer follows it between runs: looked up again in the registry at most
every :data:`_RELOAD_CHECK_S` (``dhag_registry_current_info``), and its scores of the sampled readings
fed to the drift monitor, whose shift asks for a run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dhag.outofmemory import is_out_of_memory
from pipeline import registry as reg
from pipeline.config import RetrainSettings, Settings
from pipeline.errors import ModelUnavailableError
from pipeline.metrics import RetrainMetrics
from pipeline.modelinput import by_name
from pipeline.retrain.featuremap import FeatureMap

__all__ = ["ModelWatch"]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's, as they always have

_RELOAD_CHECK_S = 5.0


class ModelWatch:
    """The retrainer's current model and drift watch (a mixin of the service; see the module): state is
    the service's."""

    settings: Settings
    cfg: RetrainSettings
    metrics: RetrainMetrics
    _drift: Any  # pipeline.drift's monitor
    _drifted: bool
    _model: tuple[str, FeatureMap, Any] | None
    _model_checked: float

    def _current_model(self, *, level: int = logging.WARNING) -> tuple[str, FeatureMap, Any] | None:
        """The current model, looked up again at most every few seconds; None (logged at ``level``)
        while the registry has none that loads and none was loaded before."""
        now = time.monotonic()
        if self._model is not None and now - self._model_checked < _RELOAD_CHECK_S:
            return self._model
        self._model_checked = now
        version: str | None = None
        try:
            version, _ = reg.current(self.settings.model.registry)
            if self._model is None or self._model[0] != version:
                model = reg.load_version(self.settings.model.registry, version)
                self._model = (version, FeatureMap.of(model), model)
            self.metrics.set_current_version(version)
        except ModelUnavailableError as exc:
            log.log(level, "%s", exc)
        except (MemoryError, RuntimeError) as exc:  # the weights did not fit: looked at again later
            if not is_out_of_memory(exc):
                raise
            kept = "none loaded yet" if self._model is None else f"{self._model[0]} kept"
            log.warning("out of memory loading model version %s (%s): %s", version, kept, exc)
        return self._model

    def _watch_drift(
        self,
        rows: list[tuple[str, float, dict[str, float]]],
        kafka_time: Callable[[], float | None] | None = None,
    ) -> None:
        if not (self.cfg.on_drift and self.settings.drift.enabled):
            return
        current = self._current_model()
        if current is None:
            return
        version, fmap, model = current
        X, kept = fmap.matrix([(a, v) for a, _, v in rows])
        times = np.array([t for _, t, _ in rows], dtype=float)[kept]
        if not len(X):
            return
        scores = model.decision_function(by_name(fmap.features, X))  # X is in the model's feature order
        drifted = self._drift.update(version, scores, times, now=kafka_time)
        if drifted and not self._drifted:
            log.info("score drift of model %s in the sampled readings: a retraining run is due", version)
            self._drifted = True  # logged once until the run it asks for
