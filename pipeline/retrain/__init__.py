"""The feedback loop's retrainer: operator labels + recent normal operation -> a gated new model.

``dhag-pipeline retrain --watch`` (a long-running singleton) or ``--once``; see
:mod:`pipeline.retrain.service` for the loop, :mod:`pipeline.retrain.runs` for when a run starts and
what its end leaves, :mod:`pipeline.retrain.samples` for the data's split,
:mod:`pipeline.retrain.featuremap` for the model input, :mod:`pipeline.retrain.training` for the
candidate's training, :mod:`pipeline.retrain.judgement` for its judgement on the holdout and
:mod:`pipeline.retrain.gate` for the gate (plain functions, shared with ``bench feedback``), and
:mod:`pipeline.retrain.cycle` for one run against the model registry.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each name from its module on first use: the package is imported by every `dhag-pipeline` command's
# parser (retrain's options), and its training modules import torch, two seconds of a console's start.
_HOME = {
    "RunResult": "cycle",
    "report_path": "cycle",
    "run_cycle": "cycle",
    "FeatureMap": "featuremap",
    "gate": "gate",
    "Judgement": "judgement",
    "evaluate": "judgement",
    "judge": "judgement",
    "TrainingData": "samples",
    "split": "samples",
    "NotEnoughDataError": "training",
    "train_candidate": "training",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "FeatureMap",
    "Judgement",
    "NotEnoughDataError",
    "RunResult",
    "TrainingData",
    "evaluate",
    "gate",
    "judge",
    "report_path",
    "run_cycle",
    "split",
    "train_candidate",
]
