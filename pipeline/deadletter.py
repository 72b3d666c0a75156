"""What a dead letter carries: the original value (cut to what a broker takes) and its detail header."""

from __future__ import annotations

import hashlib

__all__ = ["DLQ_VALUE_LIMIT", "dlq_detail", "dlq_value"]

# A dead letter's value is cut to this: Kafka producers and brokers take at most about 1 MiB per message
# by default, and a consumer fetches up to 10 MiB; a dead letter the broker refused would stop the
# service on the record it was meant to set aside.
DLQ_VALUE_LIMIT = 512 * 1024


def dlq_value(value: bytes | None) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value a dead letter carries, and the headers that say when it was cut: the original's size
    (``dlq.truncated_from``) and SHA-256 (``dlq.original_sha256``); the original stays in its topic at
    ``dlq.source.*``. A tombstone gives an empty value, not a null one: on a compacted DLQ a null value
    would itself be a tombstone, and delete the earlier dead letters with its key.

    >>> dlq_value(b"{}"), dlq_value(None)
    ((b'{}', []), (b'', []))
    >>> cut, headers = dlq_value(b"x" * (DLQ_VALUE_LIMIT + 1))
    >>> len(cut), headers[0]
    (524288, ('dlq.truncated_from', b'524289'))
    """
    value = value if value is not None else b""
    if len(value) <= DLQ_VALUE_LIMIT:
        return value, []
    digest = hashlib.sha256(value).hexdigest().encode()
    return value[:DLQ_VALUE_LIMIT], [
        ("dlq.truncated_from", str(len(value)).encode()),
        ("dlq.original_sha256", digest),
    ]


def dlq_detail(detail: str, limit: int = 1000) -> bytes:
    """A dead letter's ``dlq.detail`` header: ``detail`` in UTF-8, cut to ``limit`` bytes at a character
    boundary, so that a detail quoting a record's non-ASCII names stays readable.

    >>> dlq_detail("é" * 3, limit=5).decode()
    'éé'
    """
    return detail.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore").encode()
