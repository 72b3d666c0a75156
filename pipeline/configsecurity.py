"""``kafka.security``: how the clients reach a broker that asks for TLS or a SASL login, passed to
kafka-python as written, and what of it cannot work on this host (a certificate file it cannot read,
GSSAPI without its library), which would show only as a broker out of reach."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PrivateAttr, SecretStr

from dhag.filekind import not_a_file
from pipeline.configsource import ENV_PREFIX
from pipeline.configvalues import FilePath, Section, any_case, check_sasl_mechanism, shown
from pipeline.errors import ConfigError
from pipeline.tlsfiles import tls_file_problems

__all__ = ["LOGIN_KEYS", "SECRET_KEYS", "SecuritySettings", "line_break_check", "read_from", "set_at"]

# The credentials a PLAIN or SCRAM login sends: each as written, spaces and line breaks included.
LOGIN_KEYS = ("sasl_plain_username", "sasl_plain_password")
# ... and the password of the client's TLS key, which the TLS library decrypts the key with as written.
SECRET_KEYS = (*LOGIN_KEYS, "ssl_password")
PASSWORD_LOGINS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"]


class SecuritySettings(Section):
    """Passed through to kafka-python unchanged (``None`` leaves kafka-python's default); the protocol and
    the mechanism in any case, as Kafka's clients take them, kept as they spell them (``sasl_ssl`` is
    ``SASL_SSL``)."""

    security_protocol: Annotated[Protocol, any_case(Protocol)] = "PLAINTEXT"
    sasl_mechanism: (
        Annotated[
            Mechanism,
            BeforeValidator(check_sasl_mechanism),  # OAUTHBEARER: refused saying why, not "allowed: ..."
            any_case(Mechanism),  # first: a before-validator listed later runs earlier
        ]
        | None
    ) = None
    sasl_plain_username: str | None = None
    sasl_plain_password: SecretStr | None = None
    ssl_cafile: FilePath | None = None
    ssl_certfile: FilePath | None = None
    ssl_keyfile: FilePath | None = None
    ssl_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    # Where load_settings read them (the DHAG_PIPELINE_ variables, the config file): a problem found as a
    # client is made names the line or variable that set its key. No part of the settings' value.
    _read_from: tuple[dict[str, str], str | None] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecuritySettings):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    @property
    def sends_login(self) -> bool:
        """True when the clients log in with ``sasl_plain_username`` and ``sasl_plain_password``."""
        return self.security_protocol.startswith("SASL") and self.sasl_mechanism in PASSWORD_LOGINS

    def login_text(self, key: str) -> str | None:
        """The credential ``key`` of :data:`SECRET_KEYS`, revealed."""
        value = getattr(self, key)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    def used_text(self, key: str) -> str | None:
        """The credential ``key`` of :data:`SECRET_KEYS` revealed, where the protocol uses it (a login's
        with a PLAIN or SCRAM login, the key's password with TLS); else None."""
        used = self.sends_login if key in LOGIN_KEYS else self.security_protocol.endswith("SSL")
        return self.login_text(key) if used else None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's clients, secrets revealed, unset options left out.

        With TLS, each certificate file set must be readable here, or a :class:`ConfigError` names it
        (:meth:`problems_here`), and where it was set (:func:`read_from`): kafka-python would report it
        only as a broker it cannot reach.
        """
        if problems := self.problems_here():
            if self._read_from is not None:
                from pipeline.configchecks import placed_problems

                problems = placed_problems(problems, *self._read_from)
            raise ConfigError("\n".join(problems))
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self
            if value is not None
        }

    def problems_here(self) -> list[str]:
        """One ``config error`` line for each certificate file set that cannot be read here or is no
        regular file (looked at unopened: a named pipe would wait for a writer) or that the TLS library
        refuses, or whose key ``ssl_password`` does not decrypt
        (:func:`~pipeline.tlsfiles.tls_file_problems`), or a key file set without its certificate (which
        kafka-python ignores), when the protocol uses TLS (otherwise none is read), and for GSSAPI
        without its library."""
        problems, readable = [], {}
        gssapi = self.sasl_mechanism == "GSSAPI" and self.security_protocol.startswith("SASL")
        if gssapi and importlib.util.find_spec("gssapi") is None:
            problems.append(
                "config error: kafka.security.sasl_mechanism: GSSAPI needs the Python package gssapi "
                "(Kerberos), which is not installed here: install it beside the service, or use another "
                "mechanism"
            )
        for key in (
            ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if self.security_protocol.endswith("SSL") else ()
        ):
            if (path := getattr(self, key)) is not None:
                try:  # looked at before it is opened: opening a named pipe waits for a writer
                    if kind := not_a_file(os.stat(path).st_mode):
                        problems.append(
                            f"config error: kafka.security.{key}: {shown(path)} is {kind}, not a file: "
                            "give the file itself"
                        )
                        continue
                    Path(path).open("rb").close()
                    readable[key] = path
                except OSError as exc:
                    why = exc.strerror or type(exc).__name__
                    problems.append(f"config error: kafka.security.{key}: cannot read {shown(path)}: {why}")
        if (
            self.ssl_keyfile is not None
            and self.ssl_certfile is None
            and self.security_protocol.endswith("SSL")
        ):
            problems.append(
                "config error: kafka.security.ssl_keyfile: set without kafka.security.ssl_certfile, and the "
                "Kafka client reads the key only beside its certificate (it would connect without either): "
                "set kafka.security.ssl_certfile to the client's certificate, or remove ssl_keyfile"
            )
        if readable:
            chain = self.ssl_keyfile is None or "ssl_keyfile" in readable  # the key is read with the cert
            certfile = readable.get("ssl_certfile") if chain else None
            password = self.login_text("ssl_password")
            problems += tls_file_problems(readable.get("ssl_cafile"), certfile, self.ssl_keyfile, password)
        return problems


def line_break_check(key: str) -> Callable[[Any], str | None]:
    """The rule (for :data:`pipeline.configchecks.CROSS_CHECKS`) that the credential ``key`` of
    :data:`SECRET_KEYS` the protocol uses holds no line break. No typed user name or password has one;
    ``echo`` ends what it writes with one (a Kubernetes Secret made from a file written with it), and
    the broker then refuses the login, or the TLS library cannot decrypt the key, which the service
    could only report as a broker it cannot reach. Refused, not warned of: the value is never printed,
    only its key."""
    refused = (
        "which the broker would take as part of the login and refuse it"
        if key in LOGIN_KEYS
        else "which the TLS library would take as part of the password and fail to decrypt "
        "kafka.security.ssl_keyfile"
    )

    def problem(settings: Any) -> str | None:
        text = settings.kafka.security.used_text(key)
        if text is None or ("\n" not in text and "\r" not in text):
            return None
        at_end = " at its end" if text[-1] in "\r\n" else ""
        return (
            f"kafka.security.{key} holds a line break{at_end}, {refused}: write the value without it "
            "(a file written by `echo` ends with one: use `printf %s` or `echo -n`)"
        )

    return problem


def read_from(settings: Any, environ: Mapping[str, str], path: str | Path | None) -> Any:
    """``settings`` whose ``kafka.security`` knows it was read from ``environ`` and the config file at
    ``path``, to say where a key was set in a problem :meth:`SecuritySettings.client_options` finds."""
    security = settings.kafka.security.model_copy()
    variables = {name: value for name, value in environ.items() if name.startswith(ENV_PREFIX)}
    security._read_from = (variables, None if path is None else str(path))
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"security": security})})


def set_at(settings: Any, *keys: str, inside: bool = False) -> str:
    """Where the dotted ``keys`` of ``settings`` were set, as :func:`~pipeline.configchecks.where_set`
    says it (`` (line 4 of 'config.yaml')``; ``inside`` a parenthesis already open: ``; line 4 of
    'config.yaml'``), for a problem a command finds in them once started; "" for settings
    :func:`~pipeline.config.load_settings` did not read, or keys at their defaults."""
    read = settings.kafka.security._read_from
    if read is None:
        return ""
    from pipeline.configchecks import where_set
    from pipeline.configlines import file_lines

    environ, path = read
    where = where_set([tuple(key.split(".")) for key in keys], environ, path, file_lines(path))
    return f"; {where[2:-1]}" if inside and where else where
