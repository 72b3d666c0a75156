"""Checks of single settings that a type and a bound cannot say, used by :mod:`pipeline.config`: Kafka
topic names, broker addresses, names that must not be blank, the asset id pattern. Each returns the
value it was given, or raises ``ValueError`` saying what is accepted."""

from __future__ import annotations

import re

__all__ = [
    "EMBEDDED",
    "MAX_TOPIC_NAME",
    "check_asset_pattern",
    "check_device",
    "check_not_blank",
    "check_path",
    "check_servers",
    "check_topic_name",
]

EMBEDDED = "embedded"  # kafka.bootstrap_servers: start a broker of our own
MAX_TOPIC_NAME = 249  # characters: Kafka refuses to create a topic with a longer name


def check_topic_name(name: str) -> str:
    """``name`` if Kafka takes it as a topic name, else ``ValueError``."""
    if not re.fullmatch(rf"[A-Za-z0-9._-]{{1,{MAX_TOPIC_NAME}}}", name) or name in (".", ".."):
        raise ValueError(
            f"{name!r} is not a Kafka topic name: 1 to {MAX_TOPIC_NAME} of A-Z a-z 0-9 . _ -, not . or .."
        )
    return name


def check_device(device: str) -> str:
    """``device`` if torch names a device so that the detector takes it, else ``ValueError``."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ValueError(f"{device!r} is no device: auto, cpu, cuda or cuda:N (N: the GPU's index)")
    return device


def check_not_blank(name: str) -> str:
    """``name`` unless blank or padded with spaces (``ValueError``)."""
    if not name.strip() or name != name.strip():
        raise ValueError(f"{name!r} must not be blank or start or end with a space")
    return name


def check_asset_pattern(pattern: str) -> str:
    """``pattern`` if it compiles and can match an asset id (an id must match it whole), else
    ``ValueError``."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    if not pattern:
        raise ValueError(
            "'' matches no asset id (an id must match the pattern whole, and an empty one matches only an "
            "empty id): write '.+' to take any"
        )
    return pattern


def check_path(path: str) -> str:
    """``path`` unless empty (``ValueError``): it would name the working directory, not a file."""
    if not path:
        raise ValueError("'' is no path: give one, or null to leave it unset")
    return path


def check_servers(servers: str) -> str:
    """``servers`` if ``embedded`` or ``host:port`` addresses with ports 1-65535, else ``ValueError``."""
    hosts = servers.split(",")
    if servers != EMBEDDED and not all(
        (m := re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})", h)) and 0 < int(m[2]) < 65536
        for h in hosts
    ):
        raise ValueError(f"{servers!r} must be {EMBEDDED!r} or comma-separated host:port addresses")
    return servers
