"""A model version's reference sample: the file that holds the normal readings it was trained on.

A version may carry a bounded *reference sample* (``<version>.reference.json.gz`` beside its artifact,
read through :func:`pipeline.registry.load_reference`), which the retrainer carries forward so that a
successor knows at least as much normal operation as its parent. The sample is strict JSON: a sensor
value that is not a finite number is left out of its reading (a missing sensor, as the daemon reads
it), and a reading whose time is not one is left out, with a warning counting both. Its SHA-256 rides
in the model's manifest (:func:`pipeline.registry.publish` records what :func:`write_reference`
returns), so an edited sample is refused like an edited model.

A sample holds at most :data:`MAX_SAMPLE_BYTES` of JSON (its file as much again): one whose model
records no digest (published before samples were digested; or anyone's, where no ``DHAG_ARTIFACT_KEY``
signs the models) could otherwise be a few KB of gzip holding gigabytes. A larger one is not written,
and one read is refused past the limit, before it is all decompressed; so is JSON nested past Python's
recursion limit, and a file that is not a regular one (a FIFO would block the reader for ever).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
import os
import stat
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dhag.atomicwrite import write_atomic
from pipeline.errors import ModelUnavailableError

__all__ = [
    "REFERENCE_SUFFIX",
    "SAMPLE_STATES",
    "Reading",
    "read_reference",
    "sample_state",
    "write_reference",
]

REFERENCE_SUFFIX = ".reference.json.gz"
SAMPLE_SCHEMA = 1  # the layout of a sample file: {"schema", "version", "readings": [[asset, ts, values]]}
#: The most JSON a sample holds (and the largest file read as one): 1 GiB, as for a model artifact; the
#: default 20,000 readings of a few dozen sensors take tens of MB.
MAX_SAMPLE_BYTES = 1 << 30

Reading = tuple[str, float, dict[str, float]]  # (asset_id, ts, values)

log = logging.getLogger("pipeline.registry")  # its warning reads as the registry's, as it always has


def _sample_rows(readings: Iterable[Sequence[Any]]) -> tuple[list[Reading], int, int]:
    """``(rows, untimed, partial)``: ``readings`` as reference rows ``(asset_id, ts, values)`` of finite
    numbers, which strict JSON holds. A value that is no finite number (NaN, an infinity, None) is left
    out of its reading: a missing sensor, as the daemon and the normal sample read one, so a model that
    needs it leaves the reading out; ``partial`` counts such readings. A reading whose time is not
    finite cannot be placed in time and is left out; ``untimed`` counts them.

    >>> _sample_rows([("p1", 1, {"a": 1.5, "b": float("nan")}), ("p1", float("inf"), {"a": 1.0})])
    ([('p1', 1.0, {'a': 1.5})], 1, 1)
    """
    rows, untimed, partial = [], 0, 0
    for asset, ts, values in readings:
        if not math.isfinite(float(ts)):
            untimed += 1
            continue
        kept = {str(k): float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}
        partial += len(kept) < len(values)
        rows.append((str(asset), float(ts), kept))
    return rows, untimed, partial


def write_reference(
    path: Path, version: str, readings: Sequence[tuple[str, float, Mapping[str, float]]]
) -> str:
    """Write ``readings`` ``(asset_id, ts, values)`` as ``version``'s sample at ``path`` (atomically),
    left out what strict JSON cannot hold, with a warning; returns the file's SHA-256 (hex)."""
    rows, untimed, partial = _sample_rows(readings)
    if untimed or partial:
        log.warning(
            "reference sample of %s: %d reading(s) left out, their time not a finite number; "
            "%d reading(s) kept without their values that are not finite numbers (missing "
            "sensors, as the daemon reads them)",
            version,
            untimed,
            partial,
        )
    payload = json.dumps(
        {"schema": SAMPLE_SCHEMA, "version": version, "readings": [list(r) for r in rows]}, allow_nan=False
    ).encode("utf-8")
    if len(payload) > MAX_SAMPLE_BYTES:  # written, it could never be read back
        raise ValueError(
            f"the reference sample of {version} is {len(payload)} bytes of JSON, over the limit of "
            f"{MAX_SAMPLE_BYTES} bytes: lower retrain.reference_sample_size"
        )
    blob = gzip.compress(payload, mtime=0)
    write_atomic(path, blob)
    return hashlib.sha256(blob).hexdigest()


# Retraining from this version fails until one of these is done.
_REMEDY = (
    "Retraining on this version needs it: restore the file from a backup of the registry, or promote "
    "another version ('models promote VERSION')"
)


def read_reference(path: Path, version: str, expected: str | None) -> list[Reading]:
    """The sample of ``version`` at ``path`` (``(asset_id, ts, values)``, oldest first), checked against
    the SHA-256 its model records (``expected``; None: published before samples were digested); empty
    when there is none and none is recorded. Raises :class:`ModelUnavailableError` for an unreadable
    sample."""
    if expected is not None and not path.exists():
        raise ModelUnavailableError(
            f"The reference sample {str(path)!r} is missing; its model records one. {_REMEDY}"
        )
    try:
        blob = _read_bounded(path)
        if expected is not None and hashlib.sha256(blob).hexdigest() != expected:
            raise ValueError("it does not match the digest its model records: it was modified or damaged")
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as unzipped:
            text = unzipped.read(MAX_SAMPLE_BYTES + 1)
        if len(text) > MAX_SAMPLE_BYTES:
            raise ValueError(f"it decompresses to over the limit of {MAX_SAMPLE_BYTES} bytes")
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("its JSON is nested too deeply") from None
        if data.get("schema") != SAMPLE_SCHEMA:  # e.g. a later release's sample met after a rollback
            raise ValueError(
                f"it records layout {data.get('schema')!r} and this version reads layout {SAMPLE_SCHEMA} "
                "(a sample from another release of dhag-pipeline)"
            )
        if data.get("version") != version:
            raise ValueError(f"it records version {data.get('version')!r}")
        rows, _, _ = _sample_rows(data["readings"])
    except FileNotFoundError:
        return []
    except (
        OSError,
        EOFError,
        zlib.error,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        OverflowError,
    ) as exc:  # noqa: E501
        why = f"Cannot read the reference sample {str(path)!r}: {exc}"
        raise ModelUnavailableError(f"{why}. {_REMEDY}") from None
    return sorted(rows, key=lambda r: r[1])


#: What :func:`sample_state` tells of a version's sample: ``verified`` (it matches the digest its model
#: records), ``none`` (none recorded, none there), ``unverified`` (one there, none recorded: published
#: before samples were digested), ``missing`` (recorded, not there), ``damaged`` (not what its model
#: records: edited, cut short, not a regular file) and ``unreadable`` (reading it failed).
SAMPLE_STATES = ("verified", "none", "unverified", "missing", "damaged", "unreadable")


# What such a sample means, as a listing says it: of any version, current or not.
_LISTED = (
    "The model loads and serves, but a retraining run from it (while it is current) fails on its sample: "
    "restore the file from a backup of the registry, or make another version current ('models promote "
    "VERSION')"
)


def sample_state(path: Path, expected: str | None) -> tuple[str, str | None]:
    """The state of the sample at ``path`` (:data:`SAMPLE_STATES`) and, when retraining from it
    would fail, why and what to do; told from the file's digest alone (``expected``, as its model records
    it), never decompressed or parsed, so that listing a registry stays cheap.

    >>> import tempfile
    >>> sample_state(Path(tempfile.mkdtemp()) / "v1.reference.json.gz", None)
    ('none', None)
    """
    try:
        digest = _digest_bounded(path)
    except FileNotFoundError:
        if expected is None:
            return "none", None
        return "missing", f"its reference sample {str(path)!r} is missing; its model records one. {_LISTED}"
    except ValueError as exc:  # not a regular file, or over the limit
        return "damaged", f"its reference sample {str(path)!r} cannot be used: {exc}. {_LISTED}"
    except OSError as exc:
        return "unreadable", f"cannot read its reference sample {str(path)!r}: {exc}. {_LISTED}"
    if expected is None:
        return "unverified", None
    if digest != expected:
        why = "it does not match the digest its model records: it was modified or damaged"
        return "damaged", f"its reference sample {str(path)!r} cannot be used: {why}. {_LISTED}"
    return "verified", None


def _digest_bounded(path: Path) -> str:
    """The SHA-256 of the regular file at ``path`` (``ValueError`` when it is none, or past
    :data:`MAX_SAMPLE_BYTES`), read in chunks as :func:`_read_bounded` opens it."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        while chunk := fh.read(1 << 20):
            size += len(chunk)
            if size > MAX_SAMPLE_BYTES:
                raise ValueError(f"the file is over the limit of {MAX_SAMPLE_BYTES} bytes")
            digest.update(chunk)
    return digest.hexdigest()


def _read_bounded(path: Path) -> bytes:
    """The bytes of the regular file at ``path``, at most :data:`MAX_SAMPLE_BYTES` (``ValueError``
    beyond); opened without blocking, so that a FIFO put at its name is refused rather than waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        blob = fh.read(MAX_SAMPLE_BYTES + 1)  # the file may grow after the check
    if len(blob) > MAX_SAMPLE_BYTES:
        raise ValueError(f"the file is over the limit of {MAX_SAMPLE_BYTES} bytes")
    return blob
