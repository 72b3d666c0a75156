"""``kafka.security``: how the clients reach a broker that asks for TLS or a SASL login, passed to
kafka-python as written, and what of it cannot work on this host (a certificate file it cannot read,
GSSAPI without its library), which would show only as a broker out of reach."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, SecretStr

from pipeline.configvalues import FilePath, Section, check_sasl_mechanism
from pipeline.errors import ConfigError

__all__ = ["SecuritySettings"]


class SecuritySettings(Section):
    """Passed through to kafka-python unchanged (``None`` leaves kafka-python's default)."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: (
        Annotated[
            Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"],
            AfterValidator(check_sasl_mechanism),
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

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's clients, secrets revealed, unset options left out.

        With TLS, each certificate file set must be readable here, or a :class:`ConfigError` names it
        (:meth:`problems_here`): kafka-python would report it only as a broker it cannot reach.
        """
        if problems := self.problems_here():
            raise ConfigError("\n".join(problems))
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self
            if value is not None
        }

    def problems_here(self) -> list[str]:
        """One ``config error`` line for each certificate file set that cannot be read here, when the
        protocol uses TLS (otherwise none is read), and for GSSAPI without its library."""
        problems = []
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
                try:
                    Path(path).open("rb").close()
                except OSError as exc:
                    why = exc.strerror or type(exc).__name__
                    problems.append(f"config error: kafka.security.{key}: cannot read {path!r}: {why}")
        return problems
