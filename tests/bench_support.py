"""Stand-ins shared by the tests of ``dhag-pipeline bench`` and ``bench scale``."""

from __future__ import annotations


class NoBroker:
    """The embedded broker of a bench whose Kafka work is stood in for: a context manager whose
    address nothing listens on."""

    bootstrap_servers = "127.0.0.1:1"

    def __enter__(self) -> NoBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
