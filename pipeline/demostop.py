"""How the demo stops what it started: in order (the simulated plant, its console's last reads, the
retrainer, the operator's producer, its label folder, the daemon, the broker), or, on a second Ctrl-C
while it does, at once: its children killed, its clients closed without waiting, its label folder
removed all the same."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer

from pipeline.broker import EmbeddedBroker
from pipeline.demochildren import stop_child
from pipeline.democonsole import DemoConsole
from pipeline.demokafka import DemoKafkaError
from pipeline.kafkaclients import close_producer

__all__ = ["LABELS_FLUSH_S", "STREAM_FLUSH_S", "DemoParts"]

# With Kafka gone, how long its own producers wait at the stop: the simulated plant's last records, the
# simulated operator's last labels (its children stop within their own shutdown grace).
STREAM_FLUSH_S = 5.0
LABELS_FLUSH_S = 2.0
KILL_WAIT_S = 5.0  # a killed child's exit, waited for


@dataclass
class DemoParts:
    """What a demo started (None: not started), and its exit codes once stopped (None: never started)."""

    store_dir: Path
    broker: EmbeddedBroker | None = None
    daemon: subprocess.Popen | None = None
    retrainer: subprocess.Popen | None = None
    producer: KafkaProducer | None = None
    simulator: threading.Thread | None = None
    console: DemoConsole | None = None
    daemon_code: int | None = None
    retrainer_code: int | None = None

    def stop_in_order(self, grace_s: float) -> None:
        """The simulated plant first (it waits up to :data:`STREAM_FLUSH_S` for its last records), the
        alerts of its last records read, then the retrainer, the operator's producer, the label folder,
        the daemon (each child within ``grace_s`` and 5 s) and the broker."""
        if self.simulator is not None:
            self.simulator.join(STREAM_FLUSH_S + 2.0)  # (one blocked on a send for longer is left to end)
        if self.console is not None:
            time.sleep(1.0)  # the alerts of the last records
            with contextlib.suppress(DemoKafkaError):  # said already, if it failed before
                self.console.poll()
        if self.retrainer is not None:
            self.retrainer_code = stop_child(self.retrainer, grace_s)
        if self.producer is not None:
            close_producer(self.producer, LABELS_FLUSH_S)
        shutil.rmtree(self.store_dir, ignore_errors=True)
        if self.daemon is not None:
            self.daemon_code = stop_child(self.daemon, grace_s)
        self._last()

    def stop_at_once(self) -> None:
        """Kill the children still running, close the clients without waiting, remove the label folder;
        a further Ctrl-C meanwhile is ignored (it takes a few seconds at most)."""
        ignoring = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignoring else None
        try:
            for which in ("retrainer", "daemon"):
                proc = getattr(self, which)
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(KILL_WAIT_S)
                if proc is not None:
                    setattr(self, f"{which}_code", proc.returncode if proc.returncode is not None else -9)
            if self.producer is not None:
                close_producer(self.producer, 0.0)
            shutil.rmtree(self.store_dir, ignore_errors=True)
            self._last()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _last(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self.console is not None:
            self.console.consumer.close()
