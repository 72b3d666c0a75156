"""What the TLS library makes of ``kafka.security``'s certificate files: each loaded as kafka-python
loads them (``ssl.SSLContext.load_verify_locations`` for the CA, ``load_cert_chain`` for the client's
certificate and key, with ``ssl_password``), so that an empty or non-PEM file, a key of another
certificate or a wrong password is refused naming its key, where the client would report only a broker
out of reach (or the TLS library would ask for the password on a terminal)."""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable

from pipeline.configvalues import shown

__all__ = ["tls_file_problems"]


def tls_file_problems(
    cafile: str | None, certfile: str | None, keyfile: str | None, password: str | None
) -> list[str]:
    """One ``config error`` line for each of the files given (readable regular files) that the TLS
    library refuses; the password is never shown. kafka-python reads ``keyfile`` only beside a
    ``certfile``, and the key from ``certfile`` itself when ``keyfile`` is None."""
    problems = []
    if cafile is not None and (why := _refused(lambda ctx: ctx.load_verify_locations(cafile))):
        problems.append(
            f"config error: kafka.security.ssl_cafile: {shown(cafile)} holds no certificate the TLS library "
            f"can load ({why}): give the PEM file of the CA that signed the broker's certificate"
        )
    if certfile is None:
        return problems
    if why := _refused(lambda ctx: ctx.load_verify_locations(certfile)):
        problems.append(
            f"config error: kafka.security.ssl_certfile: {shown(certfile)} holds no certificate the TLS "
            f"library can load ({why}): give the client's certificate, PEM"
        )
        return problems
    asked: list[bool] = []

    def ask() -> str:  # never OpenSSL's own prompt on the terminal
        asked.append(True)
        return password or ""

    why = _refused(lambda ctx: ctx.load_cert_chain(certfile, keyfile, ask))
    if not why:
        return problems
    key, named = ("ssl_keyfile", keyfile) if keyfile is not None else ("ssl_certfile", certfile)
    if asked and password is not None:
        problems.append(
            f"config error: kafka.security.ssl_password: does not decrypt the key in kafka.security.{key} "
            f"{shown(named)} ({why})"
        )
    elif asked:
        problems.append(
            f"config error: kafka.security.{key}: the key in {shown(named)} is encrypted, and "
            "kafka.security.ssl_password is not set: set it to the key's password"
        )
    elif "KEY_VALUES_MISMATCH" in why:
        problems.append(
            f"config error: kafka.security.{key}: the key in {shown(named)} is not that of the certificate "
            f"in kafka.security.ssl_certfile ({why}): give the key the certificate was made for"
        )
    else:
        alone = "" if keyfile is not None else ", and kafka.security.ssl_keyfile is not set"
        problems.append(
            f"config error: kafka.security.{key}: {shown(named)} holds no private key the TLS library can "
            f"load{alone} ({why}): give the client's key, PEM"
        )
    return problems


def _refused(load: Callable[[ssl.SSLContext], object]) -> str:
    """Why the TLS library refuses what ``load`` loads into a fresh client context; "" if it does not."""
    try:
        load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    except ssl.SSLError as exc:
        return re.sub(r" \(_ssl\.c:\d+\)$", "", str(exc))
    except (OSError, ValueError) as exc:  # removed since it was looked at; a name the library refuses
        return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    return ""
