"""What the demo says when Kafka fails one of its own clients once its topics are made: the simulated
operator's producer, the simulated plant's stream, its console's reader of alerts and ground truth.

Each step runs in :func:`step`, which turns kafka-python's error (any :class:`~kafka.errors.KafkaError`:
a broker gone, a topic deleted, a timeout) into a :class:`DemoKafkaError` naming the step; the demo then
stops in order, saying it in one line (:meth:`DemoKafkaError.said`), with the exit code its services
give the same failure: 2 when Kafka refused (credentials, an ACL), 3 otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kafka.errors import KafkaError

from pipeline.brokerlink import AUTHENTICATION_FAILURES, authentication_refused
from pipeline.errors import EXIT_BROKER
from pipeline.refusals import acl_refused

__all__ = ["DemoKafkaError", "step"]

EXIT_REFUSED = 2  # a configuration to fix, as the services and the consoles take a refusal


class DemoKafkaError(Exception):
    """Kafka failed the demo ``doing`` (``making its reader of A and B``) with ``error``; ``verb`` (read,
    write to) is what a refused ACL forbade."""

    def __init__(self, doing: str, verb: str, error: KafkaError) -> None:
        super().__init__(f"{doing}: {error}")
        self.doing, self.verb, self.error = doing, verb, error

    def said(self, bootstrap: str) -> tuple[int, str]:
        """The exit code and the line saying what failed, where.

        >>> from kafka.errors import KafkaTimeoutError
        >>> DemoKafkaError("reading t", "read", KafkaTimeoutError("no answer")).said("k:9092")
        (3, 'demo: Kafka at k:9092 failed while reading t: KafkaTimeoutError: no answer; stopping')
        """
        if isinstance(self.error, AUTHENTICATION_FAILURES):
            return EXIT_REFUSED, f"demo: {authentication_refused(self.error, bootstrap)}; stopping"
        if (refused := acl_refused(self.error, self.verb, bootstrap)) is not None:
            return EXIT_REFUSED, f"demo: {refused}; stopping"
        return EXIT_BROKER, f"demo: Kafka at {bootstrap} failed while {self.doing}: {self.error}; stopping"


@contextlib.contextmanager
def step(doing: str, verb: str = "read") -> Iterator[None]:
    """Run a step of the demo's: kafka-python's error raised from it becomes a :class:`DemoKafkaError`."""
    try:
        yield
    except KafkaError as exc:
        raise DemoKafkaError(doing, verb, exc) from exc
