"""Where a server listening on a configured host binds (``metrics.host``, the embedded broker's host):
the address's own family, so that an IPv6 host gets an IPv6 socket."""

from __future__ import annotations

import socket

__all__ = ["listening_address"]


def listening_address(host: str, port: int) -> tuple:
    """The address a server listening on ``host:port`` binds, as :func:`socket.getaddrinfo` gives it
    (family, type, protocol, name, address): IPv6 for ``::`` or ``[::1]``, IPv4 for a name that has an
    IPv4 address. Raises OSError (:class:`socket.gaierror`) for a name that does not resolve.

    >>> listening_address("[::1]", 9108)[0] == socket.AF_INET6, listening_address("0.0.0.0", 0)[4]
    (True, ('0.0.0.0', 0))
    """
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return min(found, key=lambda one: one[0] != socket.AF_INET)
