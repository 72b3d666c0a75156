"""Logging set-up for the service: plain text or one JSON object per line."""

from __future__ import annotations

import logging
import sys
import time

import orjson

from pipeline.config import LoggingSettings, SecuritySettings

__all__ = ["JsonFormatter", "SecretRedactor", "configure_logging", "redact_secrets"]


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


class SecretRedactor(logging.Filter):
    """Replace secret strings in a log record's message with ``***`` (the record is kept).

    kafka-python logs its whole client configuration at DEBUG, SASL and key passwords included; with
    this filter on the log handlers those values never reach the output.

    Example
    -------
    >>> record = logging.LogRecord("kafka", logging.DEBUG, "", 0, "config: %s", ({"pw": "hunter2"},), None)
    >>> SecretRedactor(["hunter2"]).filter(record), record.getMessage()
    (True, "config: {'pw': '***'}")
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def redact_secrets(security: SecuritySettings, logger: logging.Logger | None = None) -> None:
    """Put a :class:`SecretRedactor` for the configured Kafka passwords on ``logger``'s handlers (the
    root logger's by default); call it after logging is configured."""
    secrets = [v.get_secret_value() for v in (security.sasl_plain_password, security.ssl_password) if v]
    if not secrets:
        return
    redactor = SecretRedactor(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redactor)
