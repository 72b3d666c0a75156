"""What :meth:`DHAG.fit <dhag.estimator.DHAG.fit>` records in ``training_``.

The rows it learnt from; member 0's training (its epochs, steps, history and attempts: the single
model's when ``n_members`` is 1); the members' health together; the outlier probe
(:mod:`dhag.health`); the rows the threshold was calibrated on and the quantiles of their scores; with
snapshots, the epochs kept, and with more than one member, each member's summary
(:func:`dhag.ensemble.members_record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dhag.ensemble import members_record
from dhag.retry import Trained
from dhag.splits import FitRows

__all__ = ["training_record"]


def training_record(
    members: Sequence[Trained],
    rows: FitRows,
    calibration_scores: np.ndarray,
    *,
    seed: int,
    collapsed: bool,
    ce_ratio: float,
    probe: float,
    lambda_norm: float,
    split: str,
    device: torch.device,
    fit_seconds: float,
) -> dict[str, Any]:
    """The ``training_`` record of a fit: ``collapsed`` and ``ce_ratio`` are the members' together,
    ``probe`` the outlier probe's AUROC (NaN when there was nothing to probe), ``lambda_norm`` the
    setting (the final lambda1 when no epoch ran), ``split`` the ``validation_split`` of the held-out
    rows ``calibration_scores`` are of, None where they are the training's (every normal row's, as
    ``contamination`` takes them)."""
    result, n_val = members[0].result, len(rows.validation)
    record = {
        "seed": seed,
        "n_rows": rows.n_rows,
        "n_train": len(rows.train),
        "n_validation": n_val,
        "n_known_anomalies": len(rows.known),
        "epochs_run": result.epochs_run,
        "steps": result.steps,
        "best_epoch": result.best_epoch,
        "averaged_epochs": result.averaged_epochs,
        "stopped_by": result.stopped_by,
        "train_seconds": round(sum(t.seconds for t in members), 3),
        "fit_seconds": round(fit_seconds, 3),
        "device": str(device),
        "ce_vs_constant": round(float(ce_ratio), 4),
        "collapsed": collapsed,
        "attempts": members[0].attempts,
        "lambda_norm_final": result.history[-1]["lambda_norm"] if result.history else lambda_norm,
        # None when no column is z-scored (all categorical or passed through): nothing to probe.
        "outlier_probe_auroc": round(float(probe), 4) if np.isfinite(probe) else None,
        "history": result.history,
        "calibration": {
            "rows": int(calibration_scores.shape[0]),
            "source": "validation" if split is not None and n_val else "training",
            "split": split if n_val else None,
            "score_quantiles": {
                q: float(np.quantile(calibration_scores, float(q))) for q in ("0.5", "0.9", "0.99")
            },
        },
    }
    if len(result.snapshot_epochs) > 1:
        record["snapshot_epochs"] = result.snapshot_epochs
    if len(members) > 1:
        record["members"] = members_record(members, seed)
    return record
