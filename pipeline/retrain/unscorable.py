"""Readings a model cannot score, in the retrainer: the daemon dead-letters them (its network overflows
on values near float32's limit, or they lie beyond float32 once standardised), so they neither train,
calibrate nor judge a candidate; and, when a candidate's fit still fails, the training readings that
likely made it (:func:`near_limit`)."""

from __future__ import annotations

import numpy as np

from dhag import DHAG, InputError
from pipeline.modelinput import by_name

__all__ = ["by_part", "far_kinds", "far_rows", "near_limit", "scores_of"]


def scores_of(model: DHAG, X: np.ndarray) -> np.ndarray:
    """The model's score of each row of ``X`` (its input matrix), NaN for a row it refuses
    (:class:`~dhag.InputError`: values its network overflows on, or beyond float32 once standardised):
    one batched call when it scores them all, else the refused rows are found one after another by
    halving (the first refused row of a refused block is in its first half if that half is refused,
    else in its second), about log2(len(X)) + 1 calls per refused row, and the rest scored together
    in one last call, the very scores decision_function gives them together (float32 results can
    depend on the batch). So such a row costs only itself, as in the daemon, which dead-letters it.
    A model whose weights are not finite still raises."""
    if not len(X):
        return np.zeros(0)

    def scored(rows: np.ndarray) -> np.ndarray:
        return model.decision_function(by_name(model.feature_names_in_, rows))

    try:
        return scored(X)
    except InputError:
        pass
    ok = np.ones(len(X), dtype=bool)
    start = 0  # X[start:] is refused, and the rows before it are known
    while start < len(X):
        lo, hi = start, len(X)
        while hi - lo > 1:  # X[lo:hi] holds the first refused row of X[start:]
            mid = (lo + hi) // 2
            try:
                scored(X[lo:mid])
            except InputError:
                hi = mid
            else:
                lo = mid
        ok[lo] = False
        start = lo + 1
        if start == len(X):
            break
        try:
            scored(X[start:])
        except InputError:
            continue
        break
    scores = np.full(len(X), np.nan)
    if ok.any():
        scores[ok] = scored(X[ok])
    return scores


# Values this many spreads from normal operation: their square overflows float32, the network's precision.
_SQUARE_LIMIT = float(np.sqrt(np.finfo(np.float32).max))


def _deviations(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each value's distance from the normal rows' (``y == 0``) median in their median absolute
    deviations (robust: a value near float32's limit inflates the standard deviation fit scales by)."""
    normal = X[y == 0]
    centre = np.median(normal, axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.median(np.abs(normal - centre), axis=0)
        return np.abs(X - centre) / np.where(spread > 0, spread, 1.0)


def far_rows(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which training rows hold values beyond ``_SQUARE_LIMIT`` :func:`_deviations`."""
    return ~(_deviations(X, y) <= _SQUARE_LIMIT).all(axis=1)  # an overflow (inf) counts as far


def far_kinds(far: np.ndarray, y: np.ndarray) -> dict[str, int]:
    return {k: n for k, n in (("confirmed", int(far[y == 1].sum())), ("normal", int(far[y == 0].sum()))) if n}


def near_limit(X: np.ndarray, y: np.ndarray) -> str:
    """Why a candidate's fit on ``X`` likely failed, when training rows hold values far beyond the
    normal rows' spread (:func:`far_rows`); else ""."""
    z = _deviations(X, y)
    far = ~(z <= _SQUARE_LIMIT).all(axis=1)
    if not far.any():
        return ""
    return (
        f"likely cause: {int(far.sum())} training reading(s) ({by_part(far_kinds(far, y))}) hold values "
        f"near float32's limit (up to {float(np.max(z)):.3g} median absolute deviations of the normal "
        "training rows from their median) that the current model scores but the candidate cannot train "
        "on: its standardisation or network overflows float32 on them"
    )


def by_part(counts: dict[str, int]) -> str:
    return ", ".join(f"{part} {n}" for part, n in counts.items()) or "none"
