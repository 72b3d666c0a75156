"""A second ``make run`` right after the first: the daemon's metrics port the first one served, whose
last connections linger in TIME_WAIT for a minute, is free for the second, as the daemon's metrics
server (which binds with SO_REUSEADDR) finds it; one another program listens on is still taken."""

from __future__ import annotations

import socket
import time
from http.server import HTTPServer

import pytest

from pipeline.demochildren import metrics_port


def _port_in_time_wait() -> int:
    """A port on 127.0.0.1 whose server closed its side of a connection first, as the daemon's metrics
    server does after each scrape the demo's console makes: that side lingers in TIME_WAIT."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server's close comes first: its side goes to TIME_WAIT
            client.recv(1)
    time.sleep(0.05)
    return port


def test_the_port_a_stopped_demo_served_is_kept_by_the_next() -> None:
    # Before: "metrics: port 9108 is taken; using port N instead" for a minute after a demo stopped,
    # with nothing listening on 9108; the daemon serving elsewhere than the port configured.
    port = _port_in_time_wait()
    assert metrics_port("127.0.0.1", port) == (port, None)
    with HTTPServer(("127.0.0.1", port), None) as served:  # the daemon can serve there (HTTPServer's bind)
        assert served.server_address[1] == port


@pytest.mark.parametrize("listener_reuses", [False, True])
def test_a_port_another_program_listens_on_is_still_taken(listener_reuses: bool) -> None:
    with socket.socket() as taken:
        if listener_reuses:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen, said = metrics_port("127.0.0.1", port)
    assert chosen != port and said == f"metrics: port {port} is taken; using port {chosen} instead"
