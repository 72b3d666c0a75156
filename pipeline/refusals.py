"""Kafka refusing the daemon, told apart from Kafka being away: credentials it no longer accepts, or an
ACL that no longer allows an operation.

kafka-python (3.0) surfaces a refusal as an exception of its own, wherever the operation's error
surfaces: a produce's future fails with ``TopicAuthorizationFailedError(topic)`` (the producer's
metadata wait raises it with a set of topics), a poll raises ``TopicAuthorizationFailedError({topics})``
from a fetch or a metadata update and ``GroupAuthorizationFailedError(group)`` from the group's
coordinator, join or heartbeat, a commit raises the group's (or the topic's), and an idempotent
producer's sends fail with ``ClusterAuthorizationFailedError``. Credentials refused on a reconnect are
kept per broker and raised, as ``SaslAuthenticationFailedError``, by every later request to that broker
(a poll, a commit) and by a client's constructor. A group error raised without arguments names no group.
:func:`refusal_of` reads that from an error or the errors it was raised from (a
:class:`~pipeline.delivery.DeliveryError` wraps the producer's).

The daemon retries a refusal as any outage (nothing it refused is committed), and meanwhile
:class:`RefusalWatch` keeps what each client is refused: ``/ready`` names it by the topic's role in the
settings (:meth:`RefusalWatch.state`: no topic, group or broker name, as every answer of ``/ready``),
the log says once per change which operation, which topic or group, and which ACL or
``kafka.security`` setting to check, and ``dhag_broker_refusals_total{operation,kind}`` counts each one.
The retrainer keeps a watch of its own (:mod:`pipeline.retrain.refused`); the consoles tell the
operator the ACL to grant (:func:`acl_refused`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple

from kafka.errors import (
    AuthorizationError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)
from prometheus_client import Counter

from pipeline.config import KafkaSettings

__all__ = ["REFUSAL_KINDS", "Refusal", "RefusalWatch", "acl_refused", "refusal_of"]

log = logging.getLogger("pipeline.daemon")

REFUSAL_KINDS = ("authentication", "authorisation")  # the credentials, or an ACL

# The settings a refused authentication points to (their names; never their values).
CREDENTIAL_SETTINGS = (
    "kafka.security.security_protocol, kafka.security.sasl_mechanism, kafka.security.sasl_plain_username "
    "and kafka.security.sasl_plain_password"
)

# What each operation does to a topic refused (ready's words), and the ACLs it needs on it.
_VERBS = {"produce": "write", "commit": "commit offsets of"}
_TOPIC_ACLS = {"produce": "Write and Describe", "commit": "Read"}


class Refusal(NamedTuple):
    """What Kafka refused: ``kind`` authentication (the credentials) or authorisation (an ACL);
    ``resource`` credentials, topic, group, cluster or other; ``names`` the topics or the group the
    error names (sorted; none where it names none); ``error`` the error's type.

    >>> found = refusal_of(TopicAuthorizationFailedError({"anomaly-alerts"}))
    >>> found.kind, found.resource, found.names
    ('authorisation', 'topic', ('anomaly-alerts',))
    """

    kind: str
    resource: str
    names: tuple[str, ...] = ()
    error: str = ""


def _names(exc: BaseException) -> tuple[str, ...]:
    if not exc.args:
        return ()
    named = exc.args[0]
    if isinstance(named, str):
        return (named,)
    if isinstance(named, Iterable):
        return tuple(sorted(str(name) for name in named))
    return ()


def _classify(exc: BaseException) -> Refusal | None:
    error = type(exc).__name__
    if isinstance(exc, SaslAuthenticationFailedError):
        return Refusal("authentication", "credentials", (), error)
    if isinstance(exc, TopicAuthorizationFailedError):
        return Refusal("authorisation", "topic", _names(exc), error)
    if isinstance(exc, GroupAuthorizationFailedError):
        return Refusal("authorisation", "group", _names(exc), error)
    if isinstance(exc, ClusterAuthorizationFailedError):
        return Refusal("authorisation", "cluster", (), error)
    if isinstance(exc, AuthorizationError):
        return Refusal("authorisation", "other", (), error)
    return None


def refusal_of(exc: BaseException | None) -> Refusal | None:
    """The refusal ``exc`` is, or was raised from; None for any other failure.

    >>> refusal_of(GroupAuthorizationFailedError("scorers")).names
    ('scorers',)
    >>> refusal_of(ConnectionError("no connection to any broker")) is None
    True
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (found := _classify(exc)) is not None:
            return found
        exc = exc.__cause__ or exc.__context__
    return None


def acl_refused(exc: BaseException, verb: str, bootstrap: str) -> str | None:
    """What an authorisation error says to an operator at a console (the topic or resource refused and
    the ACL to grant), or None for any other failure. ``verb``: ``read`` or ``write to``."""
    refusal = refusal_of(exc)
    if refusal is None or refusal.kind != "authorisation":
        return None
    topics = ", ".join(f"topic {name}" for name in refusal.names) or "a topic"
    if refusal.resource == "topic":
        what, need = topics, f"{'Read' if verb == 'read' else 'Write'} and Describe on {topics}"
    elif refusal.resource == "cluster":
        what, need = "the cluster", "IdempotentWrite on the cluster (brokers before Kafka 3.0)"
    else:
        what, need = refusal.resource, "the permission the broker's authorizer log names"
    return (
        f"Kafka at {bootstrap} refused to {verb} {what} ({refusal.error}): the client's principal "
        f"(kafka.security) needs {need}"
    )


class RefusalWatch:
    """What Kafka refuses each of the daemon's clients (a side of :data:`pipeline.brokerlink.SIDES`),
    counted on ``counter`` (``dhag_broker_refusals_total``) and logged once per change. The retrainer
    keeps its own (``who``, its ``group`` and its ``logger``; its sides are its operations)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        counter: Counter,
        *,
        who: str = "daemon",
        group: str | None = None,
        logger: logging.Logger = log,
    ) -> None:
        self.kafka = kafka
        self.counter = counter
        self.who, self.group, self.logger = who, group or kafka.group_id, logger
        self._current: dict[str, tuple[Refusal, str, float]] = {}  # side: refusal, operation, since

    def note(self, operation: str, exc: BaseException) -> Refusal | None:
        """Count ``exc`` when it is a refusal; returns it."""
        refusal = refusal_of(exc)
        if refusal is not None:
            self.counter.labels(operation, refusal.kind).inc()
        return refusal

    def once(self, operation: str, exc: BaseException) -> None:
        """A one-off read failed (the carry-over's, whose failure is no outage): a refusal is counted
        and logged each time."""
        if (refusal := self.note(operation, exc)) is not None:
            self.log(operation, refusal, then="not retried: the partitions start afresh")

    def failed(
        self,
        side: str,
        operation: str,
        exc: BaseException,
        now: float,
        *,
        then: str = "retried with backoff, nothing committed past it",
    ) -> None:
        """An operation of ``side`` failed with ``exc``: a refusal lasts on (logged when it is another
        than the one before, with what is done meanwhile: ``then``); any other failure ends the refusal
        of the side (an outage again), but for the idle check's finding no connection, which a refusal
        leaves behind (it tells nothing new)."""
        refusal = self.note(operation, exc)
        before = self._current.get(side)
        if refusal is None:
            if operation != "connection":
                self._current.pop(side, None)
        elif before is None or before[:2] != (refusal, operation):
            since = before[2] if before is not None and before[0] == refusal else now
            self._current[side] = (refusal, operation, since)
            self.log(operation, refusal, then=then)

    def ended(self, side: str, now: float) -> None:
        """``side`` works again, or has nothing left to retry: its refusal is over."""
        if (before := self._current.pop(side, None)) is not None:
            self.logger.info(
                "Kafka no longer refuses the %s's %s (after %.1fs)", self.who, before[1], now - before[2]
            )

    def state(self, side: str) -> tuple[str, str, float] | None:
        """What ``/ready`` says of the refusal of ``side`` under way, the detail only the log gets, and
        since when (time.monotonic()); None when there is none."""
        if (current := self._current.get(side)) is None:
            return None
        refusal, operation, since = current
        return self.what(refusal, operation), self.named(refusal), since

    def what(self, refusal: Refusal, operation: str) -> str:
        """The refusal in words that name no topic, group or broker (``/ready``'s)."""
        if refusal.kind == "authentication":
            return "authentication refused"
        if refusal.resource == "topic":
            roles = self._roles(refusal.names)
            return f"not authorised to {_VERBS.get(operation, 'read')} {roles}"
        if refusal.resource == "group":
            return "not authorised to use the consumer group"
        if refusal.resource == "cluster":
            return "not authorised on the cluster"
        return "not authorised"

    def named(self, refusal: Refusal) -> str:
        """The topic or group refused, by name (the log's)."""
        if refusal.resource == "topic" and refusal.names:
            return ", ".join(f"topic {name!r}" for name in refusal.names)
        if refusal.resource == "group":
            return f"group {(refusal.names or (self.group,))[0]!r}"
        return refusal.resource

    def log(self, operation: str, refusal: Refusal, *, then: str) -> None:
        """Say what was refused, what to check (the ACL to grant, or the credential settings), and
        what the daemon does meanwhile (``then``)."""
        if refusal.kind == "authentication":
            check = f"check {CREDENTIAL_SETTINGS} (credentials rotated or revoked on the broker?)"
        else:
            check = f"check the ACLs of {self._principal()}: it needs {self.acl(refusal, operation)}"
        self.logger.error(
            "Kafka refused %s: %s (%s; %s); %s. Meanwhile %s",
            operation,
            self.what(refusal, operation),
            self.named(refusal),
            refusal.error,
            check,
            then,
        )

    def acl(self, refusal: Refusal, operation: str) -> str:
        """The ACL ``operation`` needs on what ``refusal`` names."""
        if refusal.resource == "topic":
            return f"{_TOPIC_ACLS.get(operation, 'Read and Describe')} on {self.named(refusal)}"
        if refusal.resource == "group":
            return f"Read on {self.named(refusal)}"
        if refusal.resource == "cluster":
            return "IdempotentWrite on the cluster"
        return f"what the broker's authorizer log names ({refusal.error})"

    def _principal(self) -> str:
        security = self.kafka.security
        if security.sasl_plain_username is not None:
            return f"the principal User:{security.sasl_plain_username} (kafka.security.sasl_plain_username)"
        if security.security_protocol == "SSL":
            return "the principal of the client's certificate (kafka.security.ssl_certfile)"
        return f"the client's principal (kafka.security.security_protocol {security.security_protocol})"

    def _roles(self, names: tuple[str, ...]) -> str:
        topics = self.kafka.topics
        roles = {
            topics.input: "the input topic",
            topics.alerts: "the alerts topic",
            topics.dlq_topic: "the dead-letter topic",
            topics.labels: "the labels topic",
            topics.labels_dlq: "the labels' dead-letter topic",
        }
        if topics.scores is not None:
            roles[topics.scores] = "the scores topic"
        said = sorted({roles.get(name, "another topic") for name in names}) or ["a topic"]
        return " and ".join(said)
