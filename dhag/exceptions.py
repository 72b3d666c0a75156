"""The exceptions raised by :mod:`dhag`; all derive from :class:`DHAGError`."""

from __future__ import annotations

__all__ = ["ArtifactError", "DHAGError", "InputError", "NotFittedError", "ParameterError", "TrainingError"]


class DHAGError(Exception):
    """Base class of every error this library raises on purpose."""


class InputError(DHAGError, ValueError):
    """The data handed to fit or score is unusable: wrong shape, names, dtype, NaN or inf."""


class ParameterError(DHAGError, ValueError):
    """A setting of an estimator is outside its allowed values."""


class NotFittedError(DHAGError, AttributeError):
    """The estimator or preprocessor was used before ``fit``."""


class ArtifactError(DHAGError):
    """A model artifact is missing, truncated, tampered with, or of an unsupported version."""


class TrainingError(DHAGError, RuntimeError):
    """Training ended with weights that are not finite (it diverged); nothing of it was kept."""
