"""The exceptions raised by :mod:`dhag`; all derive from :class:`DHAGError`."""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ArtifactSignatureError",
    "ArtifactTooNewError",
    "DHAGError",
    "InputError",
    "NotFittedError",
    "ParameterError",
    "TrainingError",
]


class DHAGError(Exception):
    """Base class of every error this library raises on purpose."""


class InputError(DHAGError, ValueError):
    """The data handed to fit or score is unusable: wrong shape, names, dtype, NaN or inf.

    ``cell``: the column and row of the value the message names first, where a reader of the file can
    show it as written (a NaN that was an empty cell, or ``n/a``); None when it names none.
    """

    def __init__(self, *args: object, cell: tuple[str, int] | None = None) -> None:
        super().__init__(*args)
        self.cell = cell


class ParameterError(DHAGError, ValueError):
    """A setting of an estimator is outside its allowed values.

    ``setting``: the name of that setting, and ``allowed``: what it must be, where the message says so
    (a command line names its own option for the setting with them); None otherwise.
    """

    def __init__(self, *args: object, setting: str | None = None, allowed: str | None = None) -> None:
        super().__init__(*args)
        self.setting = setting
        self.allowed = allowed


class NotFittedError(DHAGError, AttributeError):
    """The estimator or preprocessor was used before ``fit``."""


class ArtifactError(DHAGError):
    """A model artifact is missing, truncated, tampered with, or of an unsupported version."""


class ArtifactTooNewError(ArtifactError):
    """The artifact was written by a later release of dhag (a later format version, or settings this
    release does not know): that release loads it, this one cannot."""


class ArtifactSignatureError(ArtifactError):
    """``DHAG_ARTIFACT_KEY`` is set and the artifact is not signed with it (nor with the previous key):
    unsigned, signed with another key, or edited together with its checksum."""


class TrainingError(DHAGError, RuntimeError):
    """Training ended with weights that are not finite (it diverged); nothing of it was kept."""
