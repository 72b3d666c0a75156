"""Signing model artifacts with a deployment's key, and refusing those it did not sign.

An artifact's checksum (:mod:`dhag.artifact`) detects damage, not a deliberate forgery: whoever can
write the file can rewrite the checksum too. Where the environment variable ``DHAG_ARTIFACT_KEY`` holds
a secret, every artifact is written with ``signature`` (HMAC-SHA256 of the format version and the
checksum under that key), and only artifacts whose signature matches it are loaded: an unsigned one,
one signed with another key and one edited together with its checksum are all refused, on the file's
header alone (the signature binds the checksum the header claims, which the weights are then checked
against), so a forged file costs no more to refuse than its header, whatever its size. Without the
variable nothing is signed and a signature present is not checked.

Rotating the key: set the new key in ``DHAG_ARTIFACT_KEY`` and the old one in
``DHAG_ARTIFACT_PREVIOUS_KEY``. Models signed with either load; new ones are signed with the new key.
Re-sign the old models with ``dhag sign`` (which reports what it re-signed), then unset the previous
key: no service has to refuse a model meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shlex
from pathlib import Path

from dhag.exceptions import ArtifactSignatureError

__all__ = ["KEY_VARIABLE", "PREVIOUS_KEY_VARIABLE", "signature", "signing_key", "verify_signature"]

KEY_VARIABLE = "DHAG_ARTIFACT_KEY"
PREVIOUS_KEY_VARIABLE = "DHAG_ARTIFACT_PREVIOUS_KEY"


def signing_key(variable: str = KEY_VARIABLE) -> bytes | None:
    """The signing key from the environment; ``None`` (no signing) when it is unset or empty."""
    key = os.environ.get(variable, "")
    return key.encode("utf-8") if key else None


def signature(key: bytes, version: str, checksum: str) -> str:
    """The signature of an artifact of format ``version`` with ``checksum``, under ``key``."""
    return hmac.new(key, f"dhag artifact {version} {checksum}".encode(), hashlib.sha256).hexdigest()


def verify_signature(path: Path, meta: dict[str, str]) -> dict[str, str]:
    """``meta``, an artifact's header metadata whose checksum matched, when ``DHAG_ARTIFACT_KEY`` is
    unset or its signature matches that key, or the previous key (``"signed_with": "previous"`` is then
    added); else raise :class:`ArtifactSignatureError`."""
    key = signing_key()
    if key is None:
        return meta
    found, version, checksum = meta.get("signature"), meta["dhag_format"], meta["checksum"]
    if found is None:
        raise ArtifactSignatureError(
            f"Model artifact {str(path)!r} is not signed, and {KEY_VARIABLE} is set: only models "
            f"signed with this deployment's key are loaded; one written before the key was set is signed "
            f"with it by dhag sign {shlex.quote(str(path))}."
        )
    if hmac.compare_digest(str(found), signature(key, version, checksum)):
        return meta
    previous = signing_key(PREVIOUS_KEY_VARIABLE)
    if previous is None or not hmac.compare_digest(str(found), signature(previous, version, checksum)):
        which = (
            f"neither {KEY_VARIABLE} nor {PREVIOUS_KEY_VARIABLE} matches"
            if previous is not None
            else f"{KEY_VARIABLE} does not match"
        )
        raise ArtifactSignatureError(
            f"Model artifact {str(path)!r} has a signature that {which}: it was signed with "
            "another key, or modified."
        )
    return meta | {"signed_with": "previous"}
