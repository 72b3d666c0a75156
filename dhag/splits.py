"""Which normal training rows :class:`~dhag.estimator.DHAG` holds out to calibrate its threshold.

``validation_split``: ``"random"`` (a random slice), or for rows in time order ``"blocks"`` (whole
stretches spread over the history) or ``"last"`` (the latest rows). A random slice of a slowly varying
history sits among its neighbours, so the rate it calibrates looks lower than new data will give.
"""

from __future__ import annotations

import numpy as np

__all__ = ["held_out_blocks", "known_anomaly_mask", "validation_order"]


def known_anomaly_mask(y: object, n_rows: int) -> np.ndarray:
    """The rows ``fit``'s ``y`` marks as known anomalies (1); ``None`` marks none. Refuses a ``y`` of
    the wrong length or with values other than 0 and 1.

    >>> known_anomaly_mask([0, 1, 0], 3).tolist(), int(known_anomaly_mask(None, 2).sum())
    ([False, True, False], 0)
    """
    from dhag.exceptions import InputError

    if y is None:
        return np.zeros(n_rows, dtype=bool)
    labels = np.asarray(y)
    if labels.shape != (n_rows,):
        raise InputError(f"y must have one value per row ({n_rows}). Got shape {labels.shape}.")
    if not np.isin(labels, (0, 1)).all():
        raise InputError("y must hold only 0 (normal or unlabelled) and 1 (known anomaly).")
    return labels.astype(int) == 1


def held_out_blocks(n_rows: int, fraction: float, n_blocks: int = 50) -> np.ndarray:
    """Mask of the rows ``validation_split="blocks"`` holds out: of ``n_blocks`` equal contiguous
    stretches of rows in time order, every k-th, k = round(1 / ``fraction``). Unseen stretches spread
    over the whole history (every part of a daily cycle), not rows whose neighbours trained. A small
    ``fraction`` cuts more stretches (at least five per held-out one), so some are always held out.

    Example
    -------
    >>> mask = held_out_blocks(1000, 0.1)
    >>> int(mask.sum()), np.flatnonzero(mask)[:3].tolist(), np.flatnonzero(mask)[-1].item()
    (100, [180, 181, 182], 999)
    >>> int(held_out_blocks(10_000, 0.01).sum())
    100
    """
    every = max(2, int(round(1 / fraction)))
    n_blocks = max(n_blocks, 5 * every)
    block = np.arange(n_rows) * n_blocks // max(n_rows, 1)
    return block % every == every - 1


def validation_order(
    n_rows: int, fraction: float, split: str, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """``(order, n_val)``: row indices with the ``n_val`` held-out rows first, the training rows after
    them in random order. No rows are held out when fewer than two would be left to train on.

    Example
    -------
    >>> order, n_val = validation_order(10, 0.2, "last", np.random.default_rng(0))
    >>> n_val, order[:n_val].tolist(), sorted(order[n_val:].tolist()) == list(range(8))
    (2, [8, 9], True)
    """
    n_val = int(round(fraction * n_rows))
    n_val = n_val if n_rows - n_val >= 2 else 0
    order = rng.permutation(n_rows)
    if split == "last":
        # The latest stretch: data from after everything trained on, as the daemon will meet it.
        n_fit = n_rows - n_val
        order = np.concatenate([np.arange(n_fit, n_rows), rng.permutation(n_fit)])
    elif split == "blocks" and n_val:
        held = held_out_blocks(n_rows, fraction)
        order = np.concatenate([np.flatnonzero(held), rng.permutation(np.flatnonzero(~held))])
        n_val = int(held.sum())
    return order, n_val
