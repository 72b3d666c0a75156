"""The services' HTTP endpoint: ``/metrics`` for Prometheus, and ``/ready`` and ``/live`` for
Kubernetes' probes, each answered by what the service says of itself (:class:`Probes`).

``/metrics`` answers as soon as the process serves it, whatever state the service is in, so it cannot
tell a probe anything: a daemon with wrong broker settings served it for the two minutes until it
gave up, and a rollout replaced every healthy replica with such pods in that time; a loop stuck for
ever served it too. ``/ready`` answers 200 only once the service works (the daemon: connected and in
its consumer group), ``/live`` 503 once its loop has stopped turning; the body says why. Any client
that reaches the port may ask, so ``/ready`` names the failing check and what fails, never an address,
a name or an error's text: those the service logs, once each time the answer changes.

Each connection is served on a thread of its own, one request per connection, and lasts at most
:data:`REQUEST_TIMEOUT_S`: a client that sends nothing (a scraper or balancer whose host vanished
mid-request leaves no FIN or RST to end its connection), or trickles its request a byte at a time, has
its connection closed then: else its thread and socket stayed for as long as it liked. At most
:data:`MAX_CONNECTIONS` are open at once; one beyond is closed as soon as it is accepted, with a
warning (at most one a minute), so that no client that can reach the port can take the process's
threads or file descriptors, which its Kafka clients and model reloads need. A request's line and
headers together may take :data:`MAX_REQUEST_HEAD_BYTES`: one longer is answered 414 (its line alone)
or 431 and its connection closed, without reading on, so that the connections served at once hold
half a megabyte of requests at most (the standard library's own bounds let each hold 6.5 MB).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from pipeline.listening import listening_address

if TYPE_CHECKING:  # pipeline.metrics serves the endpoint, and pipeline.brokerlink needs pipeline.metrics
    from pipeline.brokerlink import BrokerHealth
    from pipeline.config import KafkaSettings

__all__ = [
    "CHECK_FAILED",
    "METRICS_FAILED",
    "DaemonProbes",
    "NotReady",
    "Probes",
    "connecting",
    "loop_stuck",
    "serve",
]

Check = Callable[[], "str | None"]  # None: fine; else why not
ReadyCheck = Callable[[], "list[NotReady] | None"]  # None: ready; else why not
#: The answer of a check that raised: its error, which may name files and hosts, goes to the log.
CHECK_FAILED = "the check failed (its error is in the service's log)"
#: The answer of a scrape whose collection raised (its error likewise in the log).
METRICS_FAILED = "collecting the metrics failed (the error is in the service's log)"

#: How long the endpoint waits on a client, for each read of its request and each write of the answer.
#: Prometheus and Kubernetes' probes send their request at once and read the answer within their own
#: timeouts (seconds).
REQUEST_TIMEOUT_S = 30.0
#: Connections served at once. Prometheus scrapes one at a time, and Kubernetes' probes as often as
#: every few seconds, each answered in milliseconds.
MAX_CONNECTIONS = 32
#: The most a request's line and headers (and the blank line that ends them) may take, in bytes.
#: Prometheus's scrape, with a service account's bearer token, and Kubernetes' probes send under 2 KiB.
MAX_REQUEST_HEAD_BYTES = 16384
_REFUSAL_LOG_S = 60.0

log = logging.getLogger(__name__)


class NotReady(NamedTuple):
    """One reason a service is not ready. ``/ready`` answers any client ``check``, the part that fails
    ("kafka", "consumer group"; empty for the service as a whole), ``state``, what of it, and for how
    long (since ``since``, a time.monotonic()); ``detail`` (the brokers' addresses, the group's name)
    only the service's log says.

    >>> NotReady("kafka", "failing", "the brokers at k1:9093", since=time.monotonic() - 40).text()
    'kafka: failing for 40 s'
    """

    check: str
    state: str
    detail: str = ""
    since: float | None = None

    def text(self) -> str:
        """What ``/ready`` says of it."""
        what = f"{self.check}: {self.state}" if self.check else self.state
        return what if self.since is None else f"{what} for {time.monotonic() - self.since:.0f} s"


class Probes:
    """What ``/ready`` and ``/live`` answer: ``ready`` returns None when ready, else the
    :class:`NotReady` reasons; ``live`` None when fine, else why not. Until a service attaches its own,
    the process is live and not ready ("starting"). Each change of ``/ready``'s answer is logged, with
    the reasons' details, and a check that raises is answered :data:`CHECK_FAILED` and logged with
    its traceback, once until the answer changes: the kubelet asks every few seconds.

    >>> probes = Probes()
    >>> probes.answer("/ready"), probes.answer("/live")
    ((503, 'starting'), (200, 'ok'))
    >>> probes.attach(ready=lambda: None, live=lambda: "the loop has not turned for 300 s")
    >>> probes.answer("/ready"), probes.answer("/live")
    ((200, 'ok'), (503, 'the loop has not turned for 300 s'))
    """

    def __init__(self) -> None:
        self.ready: ReadyCheck = lambda: [NotReady("", "starting")]
        self.live: Check = lambda: None
        self._said: dict[str, object] = {}  # each path's last answer: (check, state) pairs, or an error type
        self._said_lock = threading.Lock()

    def attach(self, *, ready: ReadyCheck, live: Check) -> None:
        """Answer with the service's own checks from now on."""
        self.ready, self.live = ready, live

    def answer(self, path: str) -> tuple[int, str]:
        """The status and body of ``path`` (``/ready`` or ``/live``)."""
        try:
            if path == "/ready":
                reasons = self.ready() or []
                why = "; ".join(reason.text() for reason in reasons) or None
            else:
                reasons, why = [], self.live()
        except Exception as exc:  # noqa: BLE001 - a check that fails says so; the endpoint stays up
            if self._changed(path, type(exc)):
                log.error("%s answers 503: the check failed", path, exc_info=exc)
            return 503, CHECK_FAILED
        if self._changed(path, [(reason.check, reason.state) for reason in reasons]) and path == "/ready":
            details = [f"{r.text()} ({r.detail})" if r.detail else r.text() for r in reasons]
            log.info("/ready answers %s", f"503: {'; '.join(details)}" if reasons else "200")
        return (200, "ok") if why is None else (503, why)

    def _changed(self, path: str, said: object) -> bool:
        with self._said_lock:  # each connection is answered on a thread of its own
            changed, self._said[path] = self._said.get(path) != said, said
        return changed


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def server_activate(self) -> None:
        super().server_activate()
        self._open: dict[socket.socket, float] = {}  # each connection served: its deadline (monotonic)
        self._open_lock = threading.Lock()
        self._refused, self._refusal_logged = 0, -_REFUSAL_LOG_S

    def process_request(self, request: Any, client_address: Any) -> None:
        self._close_overdue()
        with self._open_lock:
            full = len(self._open) >= MAX_CONNECTIONS
            if not full:
                self._open[request] = time.monotonic() + REQUEST_TIMEOUT_S
        if full:
            self._refuse(request)
            return
        super().process_request(request, client_address)

    def _refuse(self, request: Any) -> None:
        self.shutdown_request(request)
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= _REFUSAL_LOG_S:
            log.warning(
                "the metrics endpoint closed %d connection(s) on arrival: %d were open, the most it serves "
                "at once (a client opening many, or a scraper whose requests never finish?)",
                self._refused,
                MAX_CONNECTIONS,
            )
            self._refused, self._refusal_logged = 0, now

    def service_actions(self) -> None:  # serve_forever calls it every poll interval (0.5 s)
        super().service_actions()
        self._close_overdue()

    def _close_overdue(self) -> None:
        """Cut off connections past their deadline: their threads see the end of the stream and end."""
        now = time.monotonic()
        with self._open_lock:  # held while shutting down: the handler closes a socket only after leaving
            for sock, deadline in self._open.items():
                if deadline <= now:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # a client that timed out or went away: its loss
            return
        super().handle_error(request, client_address)


class _HeadTooLarge(http.client.LineTooLong):
    """A request's line and headers longer than :data:`MAX_REQUEST_HEAD_BYTES` together (a
    LineTooLong: parse_request answers it 431)."""

    def __init__(self) -> None:
        http.client.HTTPException.__init__(
            self, f"request line and headers over {MAX_REQUEST_HEAD_BYTES} bytes in all"
        )


class _BoundedLines:
    """A connection's input whose lines (the request line, the headers and the blank line that ends
    them: the endpoint reads no body) may take ``limit`` bytes in all: a line that would pass it is
    read no further than one byte over, and raises :class:`_HeadTooLarge`."""

    def __init__(self, rfile: Any, limit: int) -> None:
        self._rfile, self._left = rfile, limit

    def readline(self, size: int = -1) -> bytes:
        line = self._rfile.readline(self._left + 1 if size < 0 else min(size, self._left + 1))
        self._left -= len(line)
        if self._left < 0:
            raise _HeadTooLarge
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rfile, name)


class _Quiet(WSGIRequestHandler):
    def setup(self) -> None:
        self.timeout = REQUEST_TIMEOUT_S  # applied to the connection by StreamRequestHandler.setup
        super().setup()
        self.rfile = _BoundedLines(self.rfile, MAX_REQUEST_HEAD_BYTES)

    def handle(self) -> None:
        # Headers over the limit are answered 431 by parse_request (a LineTooLong); the request line
        # is read before it, by WSGIRequestHandler.handle.
        try:
            super().handle()
        except _HeadTooLarge as exc:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, None, str(exc))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the overridden signature
        pass  # a scrape every few seconds would flood the log


#: The paths the endpoint serves; any other is answered 404.
PATHS = ("/metrics", "/ready", "/live")
_NOT_FOUND = f"not found: this endpoint serves {', '.join(PATHS)}\n".encode()


def _answer(
    start_response: Callable[..., Any], status: str, body: bytes, *, head: bool = False
) -> list[bytes]:
    """Send a plain-text answer; to a HEAD request its headers alone."""
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [b"" if head else body]


class _Server6(_Server):
    address_family = socket.AF_INET6


def serve(registry: CollectorRegistry, host: str, port: int, probes: Probes) -> tuple[WSGIServer, int]:
    """Serve ``/metrics`` of ``registry`` and ``probes`` on ``host:port`` (0: any free port) from a
    background thread; returns ``(server, bound_port)``. Stop it with ``server.shutdown()``."""
    metrics = make_wsgi_app(registry)

    def scrape(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # A collector that raises is answered 500 and logged through the service's logging (its format,
        # its masking of passwords), once until a scrape works: else wsgiref printed its traceback to
        # stderr at every scrape.
        try:
            body = metrics(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - the endpoint stays up; the error goes to the log
            if probes._changed("/metrics", type(exc)):
                log.error("/metrics answers 500: collecting the metrics failed", exc_info=exc)
            return _answer(start_response, "500 Internal Server Error", METRICS_FAILED.encode() + b"\n")
        if probes._changed("/metrics", None) and environ.get("REQUEST_METHOD") == "GET":
            log.info("/metrics answers 200 again")
        return body

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        head = method == "HEAD"  # answered as GET, the body left out (its length said)
        if path not in PATHS:  # a probe on a path mistyped (or /healthz) must fail, not read the metrics
            return _answer(start_response, "404 Not Found", _NOT_FOUND, head=head)
        if path == "/metrics" and method != "HEAD":
            return scrape(environ, start_response)  # GET (and OPTIONS) only: 405 for the rest
        if method not in ("GET", "HEAD"):  # a probe reads; nothing here is written
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        if path == "/metrics":
            said: list[Any] = []
            body = b"".join(scrape({**environ, "REQUEST_METHOD": "GET"}, lambda *a: said.extend(a)))
            kept = [(name, value) for name, value in said[1] if name.lower() != "content-length"]
            start_response(said[0], [*kept, ("Content-Length", str(len(body)))])
            return [b""]
        status, text = probes.answer(path)
        reason = "OK" if status == 200 else "Service Unavailable"
        return _answer(start_response, f"{status} {reason}", text.encode() + b"\n", head=head)

    family, _, _, _, address = listening_address(host, port)  # an IPv6 host needs an IPv6 server
    server_class = (
        _Server if family == socket.AF_INET else type("_Server6", (_Server,), {"address_family": family})
    )
    server = make_server(address[0], port, app, server_class=server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server, int(server.server_address[1])


class DaemonProbes:
    """What the scoring daemon (:class:`~pipeline.daemon.Daemon`) answers on ``/ready`` and ``/live``."""

    kafka: KafkaSettings
    bootstrap_servers: str
    health: BrokerHealth
    consumer: Any
    _stop: threading.Event
    _joined: bool
    _beat: float

    def not_ready(self) -> list[NotReady] | None:
        """Why the daemon cannot score yet (its ``/ready`` probe), or None when it can: connected to
        Kafka, in its consumer group (a join that did not end in time says so), not stopping. A client
        that Kafka refuses (credentials, an ACL) is named so (:mod:`pipeline.refusals`), not "failing"."""
        if self._stop.is_set():
            return [NotReady("", "stopping")]
        brokers = f"the brokers at {self.bootstrap_servers}"
        group = f"the consumer group {self.kafka.group_id}"
        if self.consumer is None:
            return [NotReady("kafka", "connecting", brokers)]
        # Each read once: the loop may end an outage meanwhile.
        join_since = self.health.down_since("join")
        clients, refused = [], []  # (a client refused by Kafka is named: a different fix from an outage)
        for side in ("consume", "produce"):
            if (since := self.health.down_since(side)) is None:
                continue
            if (refusal := self.health.refusals.state(side)) is None:
                clients.append(since)
            elif all(refusal[0] != other.state for other in refused):
                what, named, at = refusal
                refused.append(NotReady("kafka", what, f"{named} at {self.bootstrap_servers}", at))
        reasons = []
        if clients:  # dhag_broker_connected 0: first, as the join cannot end without the brokers
            reasons.append(NotReady("kafka", "failing", brokers, min(clients)))
        reasons += refused
        if join_since is not None:
            why = f"{group}: no assignment in time, the consumer replaced"
            reasons.append(NotReady("consumer group", "join failing", why, join_since))
        if reasons:
            return reasons
        return None if self._joined else [NotReady("consumer group", "waiting for the assignment", group)]

    def not_live(self) -> str | None:
        """Why the daemon is stuck (its ``/live`` probe), or None: the loop has not turned for longer
        than a batch, a broker call and a backoff together may take."""
        return loop_stuck(self._beat, self.kafka, self.kafka.backoff_max_s, "turned")


def connecting(bootstrap_servers: str) -> ReadyCheck:
    """The ``/ready`` check of a service that waits for Kafka before its loop starts (its topics looked
    at, or created), from now: "kafka: connecting for N s", the addresses for the log alone."""
    reasons = [NotReady("kafka", "connecting", f"the brokers at {bootstrap_servers}", time.monotonic())]
    return lambda: reasons


def loop_stuck(beat: float, kafka: KafkaSettings, extra_s: float, did: str) -> str | None:
    """Why a service's loop, last round at ``beat`` (time.monotonic()), looks stuck, or None: longer
    ago than a batch (``max_poll_interval_ms``), three broker calls and ``extra_s`` may take."""
    limit_s = (kafka.max_poll_interval_ms + 3 * kafka.request_timeout_ms) / 1000 + extra_s
    idle_s = time.monotonic() - beat
    return f"the loop has not {did} for {idle_s:.0f} s" if idle_s > limit_s else None
