"""Logging set-up for the service: plain text or one JSON object per line."""

from __future__ import annotations

import logging
import sys
import time

import orjson

from pipeline.config import LoggingSettings

__all__ = ["JsonFormatter", "configure_logging"]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(settings: LoggingSettings) -> None:
    """Send the service's logs to stderr in the configured format and level."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # kafka-python logs every reconnect attempt, many times a second while a broker is down; the daemon
    # reports connection failures itself, once per interval.
    logging.getLogger("kafka").setLevel(logging.DEBUG if settings.level == "DEBUG" else logging.CRITICAL)
