"""Logging set-up for the service: plain text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from types import TracebackType

import orjson

from dhag.signing import KEY_VARIABLE, PREVIOUS_KEY_VARIABLE, signing_key
from pipeline.config import LoggingSettings, SecuritySettings

__all__ = ["JsonFormatter", "SaidOnce", "SecretRedactor", "configure_logging", "redact_secrets"]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the exception's traceback and the
    stack, when the record has them)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # as the plain format does: the text a filter may have set (secrets masked)
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry).decode()


def configure_logging(settings: LoggingSettings) -> None:
    """Send the service's logs to stderr in the configured format and level, exceptions that no code
    catches (in any thread) with them."""
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
    # An exception no code catches is logged through the same handler, not printed past it: in the
    # configured format, and with the secrets masked once redact_secrets has put its filter there.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("pipeline").critical("uncaught exception: the process ends", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as threading's own hook: a thread's exit, nothing to report
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    logging.getLogger("pipeline").error(
        "uncaught exception in thread %s: the thread ends", name, exc_info=exc_info
    )


class SecretRedactor(logging.Filter):
    """Replace secret strings in a log record with ``***`` (the record is kept): in its message, in
    the traceback of its exception and in its stack, each also as a ``repr`` or a JSON string writes
    it (escaped quotes and backslashes).

    kafka-python logs its whole client configuration at DEBUG, SASL and key passwords included, and a
    client or settings error may carry one in its text, so in a traceback logged with it; with this
    filter on the log handlers those values never reach the output. The traceback is formatted here
    (``record.exc_text``), as :class:`logging.Formatter` would, and masked; the formatters print it.

    Example
    -------
    >>> record = logging.LogRecord("kafka", logging.DEBUG, "", 0, "config: %s", ({"pw": "hunter2"},), None)
    >>> SecretRedactor(["hunter2"]).filter(record), record.getMessage()
    (True, "config: {'pw': '***'}")
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        written = {form for secret in secrets if secret for form in _written_forms(secret)}
        self.secrets = sorted(written, key=len, reverse=True)  # a longer form first: none is cut in two

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit: the handler's error report prints both
            message = f"{record.msg} (arguments that do not fit it: {record.args!r})"
        if (masked := self.redact(message)) != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


def _written_forms(secret: str) -> set[str]:
    """``secret`` as it may appear in a log: as it is, inside a ``repr`` (a string's, or one in a dict
    or an exception's arguments, with either quote escaped) and inside a JSON string."""
    return {
        secret,
        repr(secret)[1:-1],
        repr('"' + secret)[2:-1],  # in a repr that quotes with ' because the text holds a " too
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def redact_secrets(security: SecuritySettings, logger: logging.Logger | None = None) -> None:
    """Put a :class:`SecretRedactor` for the configured Kafka passwords and the artifact signing keys
    (``DHAG_ARTIFACT_KEY``, ``DHAG_ARTIFACT_PREVIOUS_KEY``) on ``logger``'s handlers (the root logger's
    by default); call it after logging is configured."""
    secrets = [v.get_secret_value() for v in (security.sasl_plain_password, security.ssl_password) if v]
    secrets += [k.decode() for k in map(signing_key, (KEY_VARIABLE, PREVIOUS_KEY_VARIABLE)) if k]
    if not secrets:
        return
    redactor = SecretRedactor(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redactor)


class SaidOnce:
    """What a process has said once and will not say again: keys of lines logged at most once in it, for
    any thread.

    >>> said = SaidOnce()
    >>> said.first(("v1", "no sample")), said.first(("v1", "no sample")), said.first(("v2", "no sample"))
    (True, False, True)
    """

    def __init__(self) -> None:
        self._said: set[object] = set()
        self._lock = threading.Lock()

    def first(self, key: object) -> bool:
        """Whether ``key`` is said for the first time (it is then counted as said)."""
        with self._lock:
            if key in self._said:
                return False
            self._said.add(key)
            return True
