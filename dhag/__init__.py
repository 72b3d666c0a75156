"""DHAG: anomaly detection for tabular data with diversified, hard-to-distinguish synthetic anomalies.

The detector library of the product. It knows nothing of Kafka, Prometheus or the pipeline.
"""

from dhag.artifact import FORMAT_VERSION, load_model, read_manifest, save_model
from dhag.estimator import DHAG
from dhag.exceptions import (
    ArtifactError,
    ArtifactSignatureError,
    ArtifactTooNewError,
    DHAGError,
    InputError,
    NotFittedError,
    ParameterError,
    TrainingError,
)
from dhag.params import resolve_device
from dhag.preprocessing import Preprocessor
from dhag.topfeatures import read_top_features

__all__ = [
    "DHAG",
    "FORMAT_VERSION",
    "ArtifactError",
    "ArtifactSignatureError",
    "ArtifactTooNewError",
    "DHAGError",
    "InputError",
    "NotFittedError",
    "ParameterError",
    "Preprocessor",
    "load_model",
    "read_manifest",
    "read_top_features",
    "resolve_device",
    "save_model",
    "TrainingError",
]

__version__ = "0.1.0"
