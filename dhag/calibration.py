"""How a :class:`~dhag.estimator.DHAG`'s settings turn normal rows' scores into its threshold: at
``fit`` (of the held-out or the training scores) and on scores given later (:meth:`threshold_for`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dhag.exceptions import InputError
from dhag.health import warn_small_calibration
from dhag.hostarray import host_array
from dhag.params import target_far, threshold_level
from dhag.threshold import check_threshold, quantile_threshold, refuse_odd_scores

__all__ = ["Calibration"]


class Calibration:
    """The threshold side of :class:`~dhag.estimator.DHAG` (a mixin: it holds no state of its own; it
    reads the settings ``contamination``, ``target_far`` and ``min_threshold``, and a fitted model's
    ``preprocessor_``)."""

    contamination: float | None
    min_threshold: float | None

    def _calibrate(self, calibration: np.ndarray, training: np.ndarray, *, held_out: bool) -> float:
        if self.contamination is not None:
            return quantile_threshold(training, threshold_level(self), self.min_threshold, share=True)
        warn_small_calibration(calibration.size, target_far(self), held_out=held_out)
        return quantile_threshold(calibration, threshold_level(self), self.min_threshold)

    def threshold_for(self, normal_scores: np.ndarray, rows: Any = None) -> float:
        """The threshold these settings give on ``normal_scores`` (scores of held-out normal rows): their
        ``1 - target_far`` quantile (0.01 when it is None), or with ``contamination`` set their
        ``1 - contamination`` quantile, as ``fit`` takes it of the training scores (the model flags that
        share of rows like them, as many as above PyOD's threshold); raised to ``min_threshold`` when
        that is higher.

        Raises :class:`TrainingError` when that is 1.0, 0.0 or NaN
        (:func:`~dhag.threshold.check_threshold`, of which ``fit`` only warns): held to it, the model
        would flag nothing; :class:`InputError` when there are no scores. ``rows``: the rows the scores
        are of, for a fitted model: its passthrough columns are then named with their largest value
        (the usual cause: values no preprocessing scales saturate the network).

        Example
        -------
        >>> from dhag import DHAG
        >>> scores = np.linspace(0.27, 0.29, 1001)
        >>> round(DHAG().threshold_for(scores), 4), DHAG(min_threshold=0.5).threshold_for(scores)
        (0.2898, 0.5)
        """
        scores = np.asarray(host_array(normal_scores), dtype=np.float64).ravel()
        if scores.size == 0:
            raise InputError("threshold_for needs the scores of at least one normal row. Got none.")
        refuse_odd_scores(scores)
        share = self.contamination is not None
        threshold = quantile_threshold(scores, threshold_level(self), self.min_threshold, share=share)
        pre = getattr(self, "preprocessor_", None)
        matrix = self._matrix(rows) if rows is not None and pre is not None else None
        check_threshold(threshold, pre, matrix)
        return threshold
