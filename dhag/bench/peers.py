"""The peer detectors of Table 2, each with its library defaults, on the same z-scored inputs as DHAG.

Every peer returns anomaly scores with higher = more anomalous. Only settings that do not change the
model are touched: seeds where the library takes one, and DeepSVDD's ``verbose`` (its default prints
every epoch) and its required ``n_features``.

Training-row cap
----------------
OCSVM with library defaults (libsvm, ``nu=0.5``, so about half the training rows become support
vectors that every test row is compared with) cannot finish on KDD's ~198k training rows: on one KDD
seed, 2 CPU cores, a 20,000-row fit took 19 s and scoring the 295,650 test rows 265 s, and both grow
at least linearly (the fit quadratically) with the rows kept. It is therefore fitted on a seeded
random subsample of at most :data:`MAX_TRAIN_ROWS` training rows. The cap is the same for every
dataset; it only bites on KDD and KDDRev, and every result records it in its ``note``.

KNN and DeepSVDD are capped too by default, to keep ``make bench`` near an hour on a 2-core machine:
uncapped on the same KDD seed (one torch/BLAS thread) KNN took 232 s to fit and 352 s to score
(F1 99.4 against 98.9 capped) and DeepSVDD 672 s to fit (F1 95.7 against 94.1 capped). Pass
``capped`` to :func:`run_peer` (``--capped-peers`` on the command line) to choose.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CAPPED_PEERS", "MAX_TRAIN_ROWS", "PEERS", "PeerResult", "make_peer", "run_peer"]

PEERS = ("iforest", "ecod", "knn", "ocsvm", "deepsvdd")
MAX_TRAIN_ROWS = 20_000
CAPPED_PEERS = frozenset({"ocsvm", "knn", "deepsvdd"})

_DESCRIPTIONS = {
    "iforest": "sklearn.ensemble.IsolationForest defaults (random_state=seed); score = -score_samples",
    "ocsvm": "sklearn.svm.OneClassSVM defaults (rbf, nu=0.5, gamma='scale'); score = -decision_function",
    "ecod": "pyod ECOD defaults; PyOD computes test ECDFs over training + test rows together",
    "knn": "pyod KNN defaults (n_neighbors=5, method='largest')",
    "deepsvdd": "pyod DeepSVDD defaults (n_features=d, random_state=seed, verbose=0)",
}


@dataclass
class PeerResult:
    """Test scores of one fitted peer and what it cost."""

    scores: np.ndarray
    fit_seconds: float
    score_seconds: float
    n_train_rows: int
    note: str


def make_peer(name: str, seed: int, n_features: int) -> Any:
    """An unfitted peer detector with its library defaults (seeded where the library takes a seed)."""
    if name == "iforest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(random_state=seed)
    if name == "ocsvm":
        from sklearn.svm import OneClassSVM

        return OneClassSVM()
    if name == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD()
    if name == "knn":
        from pyod.models.knn import KNN

        return KNN()
    if name == "deepsvdd":
        from pyod.models.deep_svdd import DeepSVDD

        return DeepSVDD(n_features=n_features, random_state=seed, verbose=0)
    raise ValueError(f"Unknown peer {name!r}. Choose from {', '.join(PEERS)}.")


def _anomaly_scores(name: str, model: Any, X: np.ndarray) -> np.ndarray:
    # scikit-learn scores are "higher = more normal"; PyOD's are already "higher = more anomalous".
    if name == "iforest":
        return -model.score_samples(X)
    if name == "ocsvm":
        return -model.decision_function(X)
    return np.asarray(model.decision_function(X), dtype=np.float64)


def run_peer(
    name: str,
    X_train: np.ndarray,
    X_test: np.ndarray,
    seed: int,
    *,
    max_train_rows: int | None = MAX_TRAIN_ROWS,
    capped: Collection[str] = CAPPED_PEERS,
) -> PeerResult:
    """Fit peer ``name`` on ``X_train`` and score ``X_test``.

    Peers named in ``capped`` are fitted on a random subsample (seeded by ``seed``) of at most
    ``max_train_rows`` rows; ``None`` disables the cap.
    """
    note = _DESCRIPTIONS.get(name, "")
    rows = X_train
    if name in capped and max_train_rows is not None and X_train.shape[0] > max_train_rows:
        pick = np.sort(np.random.default_rng(seed).choice(X_train.shape[0], max_train_rows, replace=False))
        rows = X_train[pick]
        note += (
            f"; fitted on a seeded random subsample of {max_train_rows} of {X_train.shape[0]} training rows"
        )
    model = make_peer(name, seed, X_train.shape[1])
    started = time.perf_counter()
    model.fit(rows)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = _anomaly_scores(name, model, X_test)
    score_seconds = time.perf_counter() - started
    return PeerResult(scores, fit_seconds, score_seconds, int(rows.shape[0]), note)
