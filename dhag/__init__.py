"""DHAG: anomaly detection for tabular data with diversified, hard-to-distinguish synthetic anomalies.

The detector library of the product. It knows nothing of Kafka, Prometheus or the pipeline.

Its public names are imported on first use (PEP 562): ``from dhag import DHAG`` imports the estimator
and torch, while importing a module that needs neither (``dhag.infotext``, ``dhag.exceptions``)
imports no more than that module, so a console that names sensors as ``dhag info`` does starts quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name, and the module that defines it.
_DEFINED_IN = {
    "DHAG": "dhag.estimator",
    "FORMAT_VERSION": "dhag.artifact",
    "ArtifactError": "dhag.exceptions",
    "ArtifactSignatureError": "dhag.exceptions",
    "ArtifactTooNewError": "dhag.exceptions",
    "DHAGError": "dhag.exceptions",
    "InputError": "dhag.exceptions",
    "NotFittedError": "dhag.exceptions",
    "ParameterError": "dhag.exceptions",
    "Preprocessor": "dhag.preprocessing",
    "load_model": "dhag.artifact",
    "read_manifest": "dhag.artifact",
    "read_top_features": "dhag.topfeatures",
    "resolve_device": "dhag.params",
    "save_model": "dhag.artifact",
    "TrainingError": "dhag.exceptions",
}

__all__ = list(_DEFINED_IN)

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    if name not in _DEFINED_IN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_DEFINED_IN[name]), name)
    globals()[name] = value  # asked again, it is found without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
