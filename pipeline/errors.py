"""The exceptions of :mod:`pipeline`; all derive from :class:`PipelineError`.

Each maps to one way of stopping: bad configuration exits 2, a model that cannot be loaded and an
infrastructure failure that outlasted its retries exit non-zero for the supervisor.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BROKER",
    "BrokerUnavailableError",
    "ConfigError",
    "CurrentChangedError",
    "LabelStoreError",
    "LockFileError",
    "ModelUnavailableError",
    "PipelineError",
    "VersionUnreadableError",
]


class PipelineError(Exception):
    """Base class of every error the service raises on purpose."""


class ConfigError(PipelineError):
    """A setting is unknown, of the wrong type or outside its allowed values."""


class ModelUnavailableError(PipelineError):
    """The registry has no current model, or the artifact it names cannot be loaded."""


class VersionUnreadableError(ModelUnavailableError):
    """One version of the registry cannot be loaded; ``fault`` says why: ``missing`` (no such file),
    ``damaged`` (truncated, failing its checksum, misfiled, not servable), ``bad_signature`` (not signed
    with the deployment's key), ``newer_release`` (a later release's) or ``io_error`` (reading its file
    failed, an ``OSError`` such as EIO or EACCES: that says nothing of the version, which may load once
    the read works)."""

    def __init__(self, message: str, fault: str = "damaged") -> None:
        super().__init__(message)
        self.fault = fault


class CurrentChangedError(PipelineError):
    """The registry's current model changed since a decision was made against it (a rollback or another
    promotion in between), so the decision no longer holds."""


class BrokerUnavailableError(PipelineError):
    """Kafka could not be reached (or stayed unreachable) for longer than allowed."""


EXIT_BROKER = 3  # the exit code of every command that gave up on Kafka (a BrokerUnavailableError)


class LockFileError(PipelineError):
    """A lock file cannot be used as one (a folder, a link, a pipe in its place): the message names it,
    what it guards, and how to recover."""


class LabelStoreError(PipelineError):
    """The file named as the label store is not one this version can use (a newer layout, or no label
    store at all); the message names it, the versions and what to do."""
