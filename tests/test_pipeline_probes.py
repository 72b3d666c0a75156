"""/ready and /live beside /metrics: what a Kubernetes probe learns of the daemon (pipeline.probes)."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from pipeline_kafka import make_settings, running_daemon, wait_for
from prometheus_client import CollectorRegistry

from pipeline import probes as probes_module
from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics, serve_metrics
from pipeline.probes import NotReady, Probes
from pipeline.processing import BatchProcessor


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_endpoint_serves_metrics_and_the_probes_answers() -> None:
    registry, probes = CollectorRegistry(), Probes()
    PipelineMetrics(registry)
    server, port = serve_metrics(registry, "127.0.0.1", 0, probes)
    try:
        status, body = _get(port, "/metrics")
        assert status == 200 and "dhag_broker_connected" in body
        assert _get(port, "/ready") == (503, "starting\n")  # before the service attached its checks
        assert _get(port, "/live") == (200, "ok\n")
        probes.attach(ready=lambda: None, live=lambda: "the loop has not turned for 200 s")
        assert _get(port, "/ready") == (200, "ok\n")
        assert _get(port, "/live") == (503, "the loop has not turned for 200 s\n")
        probes.attach(ready=lambda: 1 / 0, live=lambda: None)  # a check that raises says so
        assert _get(port, "/ready") == (503, f"{probes_module.CHECK_FAILED}\n")
    finally:
        server.shutdown()


def _started_since(earlier: set[threading.Thread]) -> int:
    """Threads alive now that were not in ``earlier``: counted against the test's own start, since a
    thread an earlier test of this worker process left (a producer still closing) may end meanwhile."""
    return sum(thread not in earlier for thread in threading.enumerate())


def test_a_client_that_never_finishes_its_request_does_not_keep_a_thread_and_socket(monkeypatch) -> None:
    # Each connection gets a thread that reads its request; one that never completes it (a scraper or
    # balancer whose host vanished mid-request, leaving no FIN or RST to end the connection) held that
    # thread and its socket for the life of the process: months of them piled up.
    monkeypatch.setattr(probes_module, "REQUEST_TIMEOUT_S", 0.5)
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    clients = []
    try:
        earlier = set(threading.enumerate())
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(b"GET /metr")  # and nothing more
            clients.append(client)
        wait_for(lambda: _started_since(earlier) >= 5, 5, "a thread per connection")
        wait_for(lambda: _started_since(earlier) == 0, 10, "the stalled connections' threads to end")
        assert all(client.recv(1) == b"" for client in clients)  # the server closed each connection
        assert _get(port, "/live") == (200, "ok\n")  # a client that sends its request is still served
    finally:
        for client in clients:
            client.close()
        server.shutdown()


def test_connections_beyond_the_limit_are_closed_at_once_and_never_get_a_thread(monkeypatch) -> None:
    # Before: every connection got a thread and a socket, without bound: anyone who could reach the
    # port could open thousands and hold each for the read timeout, until the process ran out of
    # threads or file descriptors, and the Kafka clients and model reloads of the daemon with it.
    monkeypatch.setattr(probes_module, "MAX_CONNECTIONS", 4)
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    clients = []
    try:
        earlier = set(threading.enumerate())
        for _ in range(4):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        wait_for(lambda: _started_since(earlier) == 4, 5, "a thread per connection")
        extra = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
        clients += extra
        assert all(client.recv(1) == b"" for client in extra)  # closed without waiting on the client
        assert _started_since(earlier) == 4
        for client in clients[:4]:
            client.close()
        wait_for(lambda: _started_since(earlier) == 0, 10, "the closed connections' threads to end")
        assert _get(port, "/live") == (200, "ok\n")  # a slot free again: served
    finally:
        for client in clients:
            client.close()
        server.shutdown()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "TRACE"])
def test_the_endpoint_answers_reads_only(method: str) -> None:
    # Before: /ready and /live answered any method as GET (a POST, a TRACE, a DELETE: 200 "ok");
    # /metrics (prometheus_client's) already refused them.
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    try:
        for path in ("/metrics", "/ready", "/live"):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"x=1", method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            assert refused.value.code == 405, path
            if path != "/metrics":
                assert refused.value.headers["Allow"] == "GET, HEAD"
        head = urllib.request.Request(f"http://127.0.0.1:{port}/live", method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.shutdown()


def test_a_client_that_trickles_its_request_is_cut_off_after_the_timeout(monkeypatch) -> None:
    # Before: the timeout applied to each read, so a client sending a byte every few seconds (slowloris)
    # kept its thread and socket for as long as it liked.
    monkeypatch.setattr(probes_module, "REQUEST_TIMEOUT_S", 1.0)
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        start, closed = time.monotonic(), False
        client.sendall(b"GET /metrics HTTP/1.1\r\n")
        while time.monotonic() - start < 5:
            try:
                client.sendall(b"X-Slow: 1\r\n")
            except OSError:  # reset by the server
                closed = True
                break
            time.sleep(0.1)
        assert closed, "the server kept a trickling client for 5 s"
        assert time.monotonic() - start < 3.0
        assert _get(port, "/live") == (200, "ok\n")
    finally:
        client.close()
        server.shutdown()


def _exchange(port: int, head: bytes, *, end: bool = True) -> bytes:
    """Send ``head`` (and the blank line that ends it, unless ``end`` is False) on a connection of its
    own; what the server answered before closing it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(head + (b"\r\n" if end else b""))
        answer = b""
        with contextlib.suppress(ConnectionResetError):  # closed with the rest of the request unread
            while chunk := client.recv(65536):
                answer += chunk
        return answer


def _head(path: str, size: int) -> bytes:
    """A GET of ``path`` padded with ``X-Pad-<n>`` header lines to exactly ``size`` bytes with the
    blank line that ends it (which :func:`_exchange` sends)."""
    head = f"GET {path} HTTP/1.1\r\n".encode()
    while (left := size - 2 - len(head)) > 0:
        line = f"X-Pad-{len(head)}: ".encode()
        head += line + b"a" * (min(left, 1000) - len(line) - 2) + b"\r\n"
    assert len(head) == size - 2, len(head)
    return head


def test_a_request_head_over_the_limit_is_answered_431_without_waiting_for_its_end() -> None:
    # Before: a request line of up to 64 KiB and 100 header lines of up to 64 KiB each were read and
    # kept (about 6.5 MB a connection, 210 MB for the 32 served at once).
    limit = probes_module.MAX_REQUEST_HEAD_BYTES
    assert 8192 <= limit <= 16384
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    try:
        assert _exchange(port, _head("/live", limit)).startswith(b"HTTP/1.0 200 ")  # at the limit: served
        over = _exchange(port, _head("/live", limit + 1))
        assert over.startswith(b"HTTP/1.0 431 "), over[:200]
        assert b"Connection: close" in over
        # A head that never ends is cut off at the limit, not read on (nor waited on) to its end.
        start = time.monotonic()
        assert _exchange(port, _head("/metrics", 60_000), end=False).startswith(b"HTTP/1.0 431 ")
        assert time.monotonic() - start < 2
        long_line = f"GET /metrics?{'a' * limit} HTTP/1.1\r\n".encode()
        assert _exchange(port, long_line, end=False).startswith(b"HTTP/1.0 414 ")
        assert _get(port, "/live") == (200, "ok\n")
    finally:
        server.shutdown()


def test_prometheus_scrapes_and_kubelet_probes_are_served_under_the_limit() -> None:
    registry, probes = CollectorRegistry(), Probes()
    PipelineMetrics(registry)
    server, port = serve_metrics(registry, "127.0.0.1", 0, probes)
    scrape = {  # what Prometheus sends, with a service account's bearer token (about 1 KiB)
        "Host": f"10.244.3.17:{port}",
        "User-Agent": "Prometheus/2.53.0",
        "Accept": "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
        "version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        "Accept-Encoding": "gzip",
        "Authorization": "Bearer " + "eyJhbGciOiJSUzI1NiJ9." + "x" * 1000,
        "X-Prometheus-Scrape-Timeout-Seconds": "10",
    }
    probe = {
        "Host": f"10.244.3.17:{port}",
        "User-Agent": "kube-probe/1.30",
        "Accept": "*/*",
        "Connection": "close",
    }
    try:
        head = b"GET /metrics HTTP/1.1\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in scrape.items())
        answer = _exchange(port, head)
        assert answer.startswith(b"HTTP/1.0 200 ") and b"Content-Encoding: gzip" in answer
        probes.attach(ready=lambda: None, live=lambda: None)
        for path in ("/ready", "/live"):
            head = f"GET {path} HTTP/1.1\r\n".encode() + b"".join(
                f"{k}: {v}\r\n".encode() for k, v in probe.items()
            )
            assert _exchange(port, head).startswith(b"HTTP/1.0 200 "), path
    finally:
        server.shutdown()


def _said(reasons: list[NotReady] | None) -> str | None:
    """What /ready answers for ``reasons`` (None: 200 "ok")."""
    return "; ".join(reason.text() for reason in reasons) if reasons else None


def _daemon(fitted, **kafka: object) -> Daemon:  # noqa: ANN001 - the fitted model
    settings = Settings.model_validate({"kafka": {"bootstrap_servers": "x:1"} | kafka})
    metrics = PipelineMetrics(CollectorRegistry())
    return Daemon(settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1")


def test_the_daemon_is_ready_once_connected_and_in_its_group_and_live_while_its_loop_turns(fitted) -> None:
    daemon = _daemon(fitted, max_poll_interval_ms=30000, request_timeout_ms=30000, backoff_max_s=30)
    assert _said(daemon.not_ready()) == "kafka: connecting"
    daemon.consumer = object()  # type: ignore[assignment]
    assert _said(daemon.not_ready()) == "consumer group: waiting for the assignment"
    daemon._on_assigned(set())  # a replica beyond the partitions is in the group too, with none
    assert daemon.not_ready() is None
    daemon.health.failure("poll", ConnectionError("refused"))
    assert re.fullmatch(r"kafka: failing for \d+ s", str(_said(daemon.not_ready())))  # the backoff waited
    daemon.health.success()
    assert daemon.not_live() is None
    daemon._beat = time.monotonic() - 149  # a batch, three broker calls and a backoff: 150 s here
    assert daemon.not_live() is None
    daemon._beat = time.monotonic() - 151
    assert daemon.not_live() == "the loop has not turned for 151 s"
    daemon.request_stop()
    assert _said(daemon.not_ready()) == "stopping"


def test_ready_names_the_failing_check_and_logs_the_addresses_once_per_change(fitted, caplog) -> None:
    # Before: /ready told any client that could reach the port the brokers' addresses ("connecting to
    # Kafka at kafka-0...:9093") and the consumer group's name; the log said neither.
    settings = Settings.model_validate({"kafka": {"group_id": "plant-7-scorers"}})
    metrics = PipelineMetrics(CollectorRegistry())
    brokers = "kafka-0.plant.internal:9093"
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers=brokers
    )
    probes = Probes()
    probes.attach(ready=daemon.not_ready, live=daemon.not_live)
    caplog.set_level(logging.INFO, logger="pipeline.probes")

    def ready() -> tuple[int, str]:
        status, body = probes.answer("/ready")
        assert "kafka-0" not in body and "9093" not in body and "plant-7" not in body, body
        return status, body

    for _ in range(3):  # each state logged once, however often the kubelet asks
        assert ready() == (503, "kafka: connecting")
    daemon.consumer = object()  # type: ignore[assignment]
    assert ready() == (503, "consumer group: waiting for the assignment")
    daemon._on_assigned(set())
    assert ready() == (200, "ok")
    now = time.monotonic()
    down = {"consume": now - 40}
    daemon.health.down_since = down.get  # type: ignore[method-assign]
    assert ready() == (503, "kafka: failing for 40 s")
    down["consume"] = now - 41  # the same state, a second longer: not logged again
    assert ready() == (503, "kafka: failing for 41 s")
    down["join"] = now - 95
    assert ready() == (503, "kafka: failing for 41 s; consumer group: join failing for 95 s")
    down.clear()
    assert ready() == (200, "ok")
    logged = [r.getMessage() for r in caplog.records if r.name == "pipeline.probes"]
    assert len(logged) == 6, logged
    assert brokers in logged[0] and "kafka: connecting" in logged[0]
    assert "plant-7-scorers" in logged[1] and "plant-7-scorers" in logged[4] and brokers in logged[4]
    assert "answers 200" in logged[2] and "answers 200" in logged[5]


def test_a_check_that_raises_is_answered_without_its_error_which_is_logged_once(caplog) -> None:
    # Before: the body was the exception's text ("the check failed: FileNotFoundError: [Errno 2] No
    # such file or directory: '/var/lib/dhag/models/current'"), paths and addresses included.
    def broken() -> None:
        raise FileNotFoundError(2, "No such file or directory", "/var/lib/dhag/models/current")

    probes = Probes()
    probes.attach(ready=broken, live=broken)
    for _ in range(3):
        for path in ("/ready", "/live"):
            status, body = probes.answer(path)
            assert status == 503 and body == "the check failed (its error is in the service's log)"
    errors = [r for r in caplog.records if r.name == "pipeline.probes" and r.levelno == logging.ERROR]
    assert len(errors) == 2 and all(r.exc_info for r in errors)  # once for each probe, with the traceback
    assert "/var/lib/dhag/models/current" in caplog.text


@pytest.mark.integration
def test_a_daemon_on_the_broker_becomes_ready(fitted, model_registry, tansu) -> None:
    settings = make_settings(tansu.bootstrap_servers, model_registry)
    with running_daemon(settings, fitted, tansu.bootstrap_servers) as (daemon, _):
        wait_for(lambda: daemon.not_ready() is None, 60, "the daemon to join its group")
        assert daemon.not_live() is None


def test_the_retrainer_is_ready_once_it_consumes_and_live_while_its_loop_polls(tmp_path) -> None:
    from pipeline.labelstore import LabelStore
    from pipeline.metrics import RetrainMetrics
    from pipeline.retrain.service import Retrainer

    settings = Settings.model_validate(
        {
            "kafka": {"max_poll_interval_ms": 30000, "request_timeout_ms": 30000},
            "model": {"registry": str(tmp_path)},
        }
    )
    retrainer = Retrainer(
        settings, LabelStore(":memory:"), RetrainMetrics(CollectorRegistry()), bootstrap_servers="x:1"
    )
    assert _said(retrainer.not_ready()) == "kafka: connecting"
    assert retrainer.not_ready()[0].detail == "the brokers at x:1"  # type: ignore[index] - the log's
    retrainer._consumer = object()
    assert retrainer.not_ready() is None and retrainer.not_live() is None
    retrainer._beat = time.monotonic() - 179  # a poll, three broker calls and a run's start: 180 s here
    assert retrainer.not_live() is None
    retrainer._beat = time.monotonic() - 181
    assert retrainer.not_live() == "the loop has not polled for 181 s"
    retrainer.request_stop()
    assert _said(retrainer.not_ready()) == "stopping"
