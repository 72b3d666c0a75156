"""The Kafka passwords never reach a service's log: not in a message, nor in the traceback of an
exception (a client or settings error whose text carries a password), nor in a stack dump, in either
log format (pipeline.logs)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.logs import configure_logging, redact_secrets

SASL = "s3cr3t-Pa55word-never-logged"
KEY = "k'ey\\pa\"ss"  # quotes and a backslash: a repr or a JSON string writes it escaped


def _configured(fmt: str) -> None:
    """The logging a service command sets up (pipeline.cli): the format, then the passwords masked."""
    settings = Settings.model_validate(
        {
            "logging": {"format": fmt},
            "kafka": {"security": {"sasl_plain_password": SASL, "ssl_password": KEY}},
        }
    )
    configure_logging(settings.logging)
    redact_secrets(settings.kafka.security)


def _connect() -> None:
    options = {"sasl_plain_password": SASL, "ssl_password": KEY}
    try:
        raise OSError(f"broker refused the login with {SASL}")
    except OSError as exc:
        raise RuntimeError(f"cannot connect with {options}") from exc


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_traceback_that_carries_a_password_is_logged_with_it_masked(fmt: str, capsys) -> None:
    # Before: only the message was masked; the traceback below it (logging.exception, exc_info=True)
    # and a stack dump (stack_info=True) printed the password as the exception had it.
    _configured(fmt)
    log = logging.getLogger("pipeline.daemon")
    try:
        _connect()
    except RuntimeError as exc:
        log.exception("Kafka connection failed: %s", exc)
        log.warning("retrying", exc_info=True)
    log.error("here with %s", SASL, stack_info=True)
    err = capsys.readouterr().err
    # What a reader of the log sees: the lines as written, or each JSON line's text decoded.
    texts = (
        [err] if fmt == "plain" else [str(v) for line in err.splitlines() for v in json.loads(line).values()]
    )
    for text in texts:
        for secret in (SASL, KEY, repr(KEY)[1:-1]):  # a dict's repr writes the key password escaped
            assert secret not in text, text
    # The traceback itself is kept, both exceptions of the chain, the password's place marked.
    assert err.count("Traceback (most recent call last)") == 4, err
    assert "broker refused the login with ***" in err and "in _connect" in err
    assert "Stack (most recent call last)" in err and "here with ***" in err
    if fmt == "json":
        entries = [json.loads(line) for line in err.splitlines()]
        assert [e["level"] for e in entries] == ["ERROR", "WARNING", "ERROR"]
        assert "RuntimeError: cannot connect with" in entries[0]["exception"]
        assert "'sasl_plain_password': '***'" in entries[0]["exception"]
        assert "Stack (most recent call last)" in entries[2]["stack"]


def test_a_traceback_without_a_password_is_logged_as_it_is(capsys) -> None:
    _configured("plain")
    try:
        raise ValueError("nothing secret")
    except ValueError:
        logging.getLogger("pipeline").exception("failed")
    err = capsys.readouterr().err
    assert "ValueError: nothing secret" in err and "***" not in err


def test_a_message_whose_arguments_do_not_fit_it_is_logged_with_the_password_masked(capsys) -> None:
    # Before: logging reported the formatting error with the message's arguments, password and all.
    _configured("plain")
    logging.getLogger("pipeline.brokerlink").warning("connecting as %s", "scorer", SASL)
    err = capsys.readouterr().err
    assert SASL not in err, err
    assert "connecting as %s (arguments that do not fit it: ('scorer', '***'))" in err


@pytest.mark.parametrize("variable", ["DHAG_ARTIFACT_KEY", "DHAG_ARTIFACT_PREVIOUS_KEY"])
def test_the_artifact_signing_keys_are_masked_too(variable: str, monkeypatch, capsys) -> None:
    # Before: only the Kafka passwords were masked; a signing key in an error's text was logged as is.
    signing_key = "model-signing-key-0f3a9c"
    monkeypatch.setenv(variable, signing_key)
    settings = Settings.model_validate({"logging": {"format": "plain"}})  # no Kafka password at all
    configure_logging(settings.logging)
    redact_secrets(settings.kafka.security)
    try:
        raise ValueError(f"cannot sign with {signing_key!r}")
    except ValueError:
        logging.getLogger("pipeline.retrain").exception("signing failed for %s", signing_key)
    err = capsys.readouterr().err
    assert signing_key not in err, err
    assert "signing failed for ***" in err and "ValueError: cannot sign with '***'" in err


@pytest.mark.parametrize("where", ["main", "thread"])
def test_an_uncaught_exception_that_carries_a_password_is_logged_with_it_masked(where: str) -> None:
    # Before: Python printed an exception no code caught (in the main thread, or a thread of the
    # service's) to stderr itself, past the log's handlers: the password unmasked, a JSON log's line
    # no JSON object.
    code = f"""
import threading
from test_security_logs import _configured, _connect
_configured("json")
if {where!r} == "thread":
    thread = threading.Thread(target=_connect, name="trainer")
    thread.start()
    thread.join()
else:
    _connect()
"""
    tests = str(Path(__file__).parent)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(Path(tests).parent), tests])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == (1 if where == "main" else 0), done.stderr
    assert SASL not in done.stderr, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(entries) == 1 and entries[0]["level"] == ("CRITICAL" if where == "main" else "ERROR")
    assert "broker refused the login with ***" in entries[0]["exception"]
    assert where != "thread" or "trainer" in entries[0]["message"]
