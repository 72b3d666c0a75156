"""The feedback loop's retrainer: operator labels + recent normal operation -> a gated new model.

``dhag-pipeline retrain --watch`` (a long-running singleton) or ``--once``; see
:mod:`pipeline.retrain.service` for the loop, :mod:`pipeline.retrain.runs` for when a run starts and
what its end leaves, :mod:`pipeline.retrain.samples` for the data's split,
:mod:`pipeline.retrain.featuremap` for the model input, :mod:`pipeline.retrain.training` for the
candidate's training, :mod:`pipeline.retrain.judgement` for its judgement on the holdout and
:mod:`pipeline.retrain.gate` for the gate (plain functions, shared with ``bench feedback``), and
:mod:`pipeline.retrain.cycle` for one run against the model registry.
"""

from pipeline.retrain.cycle import RunResult, report_path, run_cycle
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.gate import gate
from pipeline.retrain.judgement import Judgement, evaluate, judge
from pipeline.retrain.samples import TrainingData, split
from pipeline.retrain.training import NotEnoughDataError, train_candidate

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
