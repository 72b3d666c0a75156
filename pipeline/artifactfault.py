"""Why an artifact of the registry cannot be read, as :data:`FAULTS` names it.

A read the system failed or refused (an I/O error of the volume, no permission, no memory: an
``OSError``) is ``io_error``, not ``damaged``: it says nothing of the file's content, and the same file
may read well a moment later. A rollback refuses on one rather than pass over a version that may be
fine (:mod:`pipeline.rollbackwalk`), and ``models prune`` advises checking the volume, not removing it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from dhag import ArtifactError, ArtifactSignatureError, ArtifactTooNewError

__all__ = ["FAULTS", "fault_of", "gone_link", "read_error", "read_failure"]

# Written by a later release of dhag (a later format, settings this one does not know: that release
# reads it); not signed with DHAG_ARTIFACT_KEY (nor the previous key); damaged (truncated, failing its
# checksum, not a regular file, inconsistent); the read failed (an I/O or permission error).
FAULTS = ("newer_release", "bad_signature", "damaged", "io_error")


def read_error(exc: BaseException) -> OSError | None:
    """The ``OSError`` a failed read of an artifact raised, when that is why ``exc`` was raised."""
    cause = exc.__cause__
    return cause if isinstance(exc, ArtifactError) and isinstance(cause, OSError) else None


def fault_of(exc: ArtifactError) -> str:
    """Which of :data:`FAULTS` an :class:`~dhag.ArtifactError` of reading an artifact is."""
    if read_error(exc) is not None:
        return "io_error"
    if isinstance(exc, ArtifactTooNewError):
        return "newer_release"
    return "bad_signature" if isinstance(exc, ArtifactSignatureError) else "damaged"


def gone_link(path: Path) -> str | None:
    """The target of ``path`` when it is a symbolic link whose target is gone (removed, or on a volume
    not mounted); None otherwise.

    >>> import tempfile
    >>> link = Path(tempfile.mkdtemp()) / "v3.dhag"
    >>> link.symlink_to("/nowhere/v3.dhag")
    >>> gone_link(link), gone_link(link.parent)
    ('/nowhere/v3.dhag', None)
    """
    try:
        return None if not path.is_symlink() or path.exists() else os.readlink(path)
    except OSError:
        return None


def read_failure(path: Path, error: OSError) -> str:
    """``Cannot read PATH: STRERROR (ECODE)``; for a link whose target is gone (:func:`gone_link`), that
    it is one, naming the target: the system's "No such file or directory" of a file ``ls`` shows sends
    the reader looking for the wrong fault.

    >>> read_failure(Path("/r/v2.dhag"), OSError(errno.EIO, "Input/output error"))
    "Cannot read '/r/v2.dhag': Input/output error (EIO)"
    """
    code = f" ({errno.errorcode[error.errno]})" if error.errno in errno.errorcode else ""
    if error.errno in (errno.ENOENT, errno.ELOOP) and (target := gone_link(path)) is not None:
        return f"Cannot read {str(path)!r}: it is a link to {target!r}, which does not exist{code}"
    return f"Cannot read {str(path)!r}: {error.strerror or error}{code}"
