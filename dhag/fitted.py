"""What a fitted :class:`~dhag.estimator.DHAG` does with rows: preprocess, score, flag and explain them.

The estimator owns its settings and its training; these methods read only what ``fit`` (or loading)
left: ``net_``, ``preprocessor_`` and ``threshold_`` (and the training rows' scores, which ``fit`` alone
leaves).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from dhag.attribution import occlusion_attribution
from dhag.columns import _is_frame, _preview, as_columns, is_unnamed_table
from dhag.ensemble import DHAGEnsemble
from dhag.exceptions import InputError, NotFittedError, ParameterError
from dhag.scoring import checked_matrix, refuse_unscored
from dhag.threshold import checked_threshold

__all__ = ["FittedScoring"]

logger = logging.getLogger(__name__)


class FittedScoring:
    """The scoring side of :class:`~dhag.estimator.DHAG` (a mixin: it holds no state of its own, but for
    whether it has said that an array is read by position)."""

    net_: Any
    preprocessor_: Any
    threshold_: float

    # -- scoring ---------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError("This DHAG instance is not fitted yet. Call 'fit' first.")

    @property
    def decision_scores_(self) -> np.ndarray:
        """The anomaly score of each row ``fit`` was given, in its order (PyOD's attribute)."""
        scores = self.__dict__.get("_training_scores")
        if scores is None:
            self._check_fitted()
            raise AttributeError(
                "decision_scores_ and labels_ describe the rows of a fit and are not saved in the artifact "
                "this model was loaded from: decision_function(X) and predict(X) give them for rows X."
            )
        return scores

    @property
    def labels_(self) -> np.ndarray:
        """0 (normal) / 1 (anomaly) per row ``fit`` was given: ``decision_scores_`` above ``threshold_``."""
        scores = self.decision_scores_  # first: before fit, or after a load, it says why there are none
        return (scores > checked_threshold(self.threshold_)).astype(np.int64)

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` (or loading) has left a model to score with, as ``check_is_fitted`` asks."""
        return hasattr(self, "net_")

    def _raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        return self.net_.anomaly_scores(matrix)

    def _raw_scores_and_logits(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # NaN where _raw_scores is (rows the network overflows on), from the same single pass.
        return self.net_.scores_and_logits(matrix)

    def _checked(self, matrix: np.ndarray) -> np.ndarray:
        names = self.preprocessor_.output_names_
        return checked_matrix(matrix, len(names), names)

    def transform(self, X: Any) -> Any:
        """The preprocessed float32 matrix the network sees (validates names, dtypes, NaN/inf); after
        :meth:`set_output` ``(transform="pandas")``, as a DataFrame whose columns are
        :meth:`get_feature_names_out` (and whose index is ``X``'s, for a frame)."""
        matrix = self._matrix(X)
        if self.__dict__.get("_sklearn_output_config", {}).get("transform", "default") == "default":
            return matrix
        import pandas as pd

        index = X.index if _is_frame(X) else None
        return pd.DataFrame(matrix, columns=self.get_feature_names_out(), index=index, copy=False)

    def _matrix(self, X: Any) -> np.ndarray:
        """:meth:`transform`'s matrix, as scoring takes it whatever output was set."""
        self._check_fitted()
        matrix = self.preprocessor_.transform(self._named_by_setting(X))
        self._note_positional(X)
        return matrix

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of :meth:`transform`'s columns, as scikit-learn's transformers give them: a numeric
        feature's own name, a categorical's one-hot columns as ``site=north`` (``output_names_`` of the
        preprocessing). ``input_features``, where given, must be ``feature_names_in_``."""
        self._check_fitted()
        names = self.preprocessor_.feature_names_in_
        if input_features is not None and [str(n) for n in input_features] != names:
            raise InputError(
                f"input_features must be the features the model was fitted on ({_preview(names)}). Got "
                f"{_preview(str(n) for n in input_features)}."
            )
        return np.asarray(self.preprocessor_.output_names_, dtype=object)

    def set_output(self, *, transform: str | None = None) -> FittedScoring:
        """What :meth:`transform` (and ``fit_transform``) give, as scikit-learn's ``set_output`` sets it
        (a Pipeline's asks every step): ``"default"``, the float32 array; ``"pandas"``, a DataFrame; None
        leaves it as it is. Scores do not change with it; ``clone`` keeps it, an artifact does not.
        Returns self."""
        if transform not in ("default", "pandas", None):
            # scikit-learn's transformers also take 'polars': said, as a Pipeline's set_output asks here.
            polars = (
                ": DHAG's transform gives no polars DataFrame; set 'pandas' and convert its frame with "
                "polars.from_pandas(...)"
                if transform == "polars"
                else "."
            )
            raise ParameterError(
                "The 'transform' parameter of set_output must be 'default' (a float32 array), 'pandas' (a "
                f"DataFrame) or None (left as it is). Got {transform!r} instead{polars}",
                setting="transform",
                allowed="'default', 'pandas' or None",
            )
        if transform is not None:
            # scikit-learn's attribute for it, which its clone copies.
            self.__dict__["_sklearn_output_config"] = {"transform": transform}
        return self

    def _named_by_setting(self, X: Any) -> Any:
        """An array (no names) as the columns the ``feature_names`` setting names, in its order, where
        a frame with those columns in another order was fitted (its own order is the model's): the
        setting says how arrays are ordered, and the note on reading arrays is not given for it."""
        given = getattr(self, "feature_names", None)
        names = self.preprocessor_.feature_names_in_
        if given is None or not is_unnamed_table(X) or [str(n) for n in given] == names:
            return X
        if sorted(str(n) for n in given) != sorted(names):
            return X  # a setting changed since the fit names other features: arrays are the model's order
        return as_columns(X, [str(n) for n in given], model_names=True)[1]

    def _note_positional(self, X: Any) -> None:
        """Say once per model (fitted or loaded) that a table naming no columns (an array) is read in the
        training order when the model was fitted on named columns that no ``feature_names`` setting
        gives an array: an array ordered otherwise scores readings of one sensor as another's. Columns
        named 0, 1, ... in their order (a frame of an array) are positions already: nothing to say."""
        names = self.preprocessor_.feature_names_in_
        if (
            getattr(self, "feature_names", None) is not None
            or self.__dict__.get("_positional_said")
            or not is_unnamed_table(X)
            # An array's names, or a frame's default ones (pd.DataFrame(X): 0, 1, ...), are positions.
            or names in ([f"x{i}" for i in range(len(names))], [str(i) for i in range(len(names))])
        ):
            return
        self.__dict__["_positional_said"] = True  # a note, not state: it changes no score
        logger.warning(
            "An array has no feature names, but this model was fitted on named features: its columns are "
            "taken in the training order (%s); a DataFrame with those columns is matched by name (said "
            "once per model)",
            _preview(names, limit=3),
        )

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly score per row in [0, 1] (float64); higher = more anomalous.

        Raises :class:`InputError` naming the feature or row for input it cannot score: wrong names,
        dtypes, NaN or inf, and values so large that the network overflows float32 on them.
        """
        return self.score_matrix(self._matrix(X))

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Score an already preprocessed float32 matrix (the hot path of a streaming scorer)."""
        self._check_fitted()
        matrix = self._checked(matrix)
        scores = self._raw_scores(matrix)
        refuse_unscored(np.isfinite(scores), self.net_)
        return scores

    def logit_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """The network's pre-sigmoid output per row of an already preprocessed matrix (float64): the
        logit whose sigmoid is the score. It orders rows as the score does and goes on telling them
        apart where the score is exactly 1.0 (a gross anomaly: past a logit of about 37) or 0.0. With
        ``n_members`` or ``snapshots`` > 1 it is the logit of the mean of the networks' probabilities
        (:meth:`DHAGEnsemble.scores_and_logits <dhag.ensemble.DHAGEnsemble.scores_and_logits>`), so
        its sigmoid is still the score. Rows are checked and refused as by :meth:`score_matrix`; a row
        the network takes to an infinite logit (scored 1.0 or 0.0) gives +-inf.

        Example
        -------
        >>> from dhag import DHAG
        >>> rng = np.random.default_rng(0)
        >>> model = DHAG(max_epochs=3, batch_size=128, shift_weight=1.0, random_state=0)
        >>> model = model.fit(rng.normal(size=(512, 4)))
        >>> rows = model.transform(np.array([[300.0, 0.0, 0.0, 0.0], [600.0, 0.0, 0.0, 0.0]]))
        >>> model.score_matrix(rows).tolist()  # both saturated
        [1.0, 1.0]
        >>> logits = model.logit_matrix(rows)  # the second is further out
        >>> bool(logits[1] > logits[0] > 37.0)
        True
        """
        return self._scored(matrix)[1]

    def score_and_logit_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score_matrix` and :meth:`logit_matrix` of an already preprocessed matrix from one pass
        of the network (of each network with ``n_members`` or ``snapshots`` > 1): the same scores to
        the last bit, and the logits they are the sigmoid of. Rows are refused as by
        :meth:`score_matrix`.

        >>> from dhag import DHAG
        >>> model = DHAG(max_epochs=2, batch_size=128, random_state=0)
        >>> model = model.fit(np.random.default_rng(0).normal(size=(512, 3)))
        >>> rows = model.transform(np.array([[0.0, 0.0, 0.0], [50.0, 0.0, 0.0]]))
        >>> scores, logits = model.score_and_logit_matrix(rows)
        >>> scores.tolist() == model.score_matrix(rows).tolist()
        True
        >>> logits.tolist() == model.logit_matrix(rows).tolist()
        True
        """
        return self._scored(matrix)

    def _scored(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``score_matrix`` and ``logit_matrix`` of the rows, from one pass of the network."""
        self._check_fitted()
        matrix = self._checked(matrix)
        scores, logits = self._raw_scores_and_logits(matrix)
        refuse_unscored(np.isfinite(scores), self.net_)
        return scores, logits

    def member_scores(self, X: Any) -> np.ndarray:
        """Each network's anomaly score per row, shape (networks, rows): ``n_members`` times the
        snapshots each keeps. Their mean is the score; where they disagree, the model is unsure.
        A row the model cannot score is refused as by :meth:`decision_function`."""
        matrix = self._matrix(X)
        if isinstance(self.net_, DHAGEnsemble):
            scores = self.net_.member_scores(self._checked(matrix))
            refuse_unscored(np.isfinite(scores).all(axis=0), self.net_)
            return scores
        return self.score_matrix(matrix)[None, :]

    def predict(self, X: Any) -> np.ndarray:
        """0 (normal) / 1 (anomaly) per row: score above ``threshold_``."""
        self._check_fitted()
        threshold = checked_threshold(self.threshold_)  # before the scoring: it would be lost
        return (self.decision_function(X) > threshold).astype(np.int64)

    def explain(
        self, X: Any, *, top: int | None = None, logit_drops: bool = False
    ) -> list[list[tuple[str, float]]] | list[list[tuple[str, float, float]]]:
        """Per row, the input features ranked by how much they raise the score.

        A feature's contribution is the score drop when that feature alone is set to its training
        typical value (its mean; the training category frequencies for a categorical feature). A
        negative one: the feature's value makes the row look more normal than that typical value (its
        reset raises the score); such features rank after those that raise it. Features whose drops
        are equal are ranked by the drop of the network's logit (:meth:`logit_matrix`) under the same
        reset. That decides the order where the score saturates:
        a gross anomaly scores exactly 1.0 and often keeps 1.0 whichever one feature is reset (another
        is still far out), so every contribution is 0.0, and the first feature is the one whose reset
        moves the network furthest towards normal, not the first column. A feature already at its
        typical value contributes exactly 0.0 and ranks after those whose reset lowers the logit.
        ``logit_drops``: each entry is ``(feature, contribution, logit_drop)`` instead.

        ``top`` keeps that many of each row's features (all when None). A row the model cannot score
        is refused as by :meth:`decision_function`; a feature whose reset leaves a row the network
        overflows on (values near float32's limit of opposite signs) has a NaN contribution, unknown,
        ranked last. The rows and their reset copies each take one pass of the network.
        """
        self._check_fitted()
        matrix, pre = self._matrix(X), self.preprocessor_
        return occlusion_attribution(
            self._scored,
            matrix,
            pre.baseline(),
            pre.feature_slices(),
            top=top,
            score_occluded=self._raw_scores_and_logits,
            logit_drops=logit_drops,
        )
