"""Fakes for ``dhag-pipeline demo`` run in-process: its children (the daemon, the retrainer) and every
kafka-python client class a pipeline module imported, which record how they were made and can be told
to fail as a broker would (:func:`fake_clients`)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import kafka
import pytest
from kafka.future import Future


class Proc:
    """A child process (the daemon, the retrainer) that runs until told to stop."""

    pid = 4321
    returncode: int | None = None

    def __init__(self) -> None:
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)
        self.returncode = 0

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, _timeout: float | None = None) -> int:
        return 0


# (class name, method) -> what it does instead: raise the exception given, or call the function given
# with the client and the call's arguments.
Faults = dict[tuple[str, str], BaseException | Callable[..., Any]]


def fake_clients(
    monkeypatch: pytest.MonkeyPatch, faults: Faults | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], list[Any]]:
    """Every kafka-python client class, wherever a pipeline module imported it, replaced by one that
    records the options it was made with (and reaches no broker); those records, in order, and the
    topics created (kafka-python's NewTopic). ``faults`` makes a method (``__init__`` too) of a class
    (``KafkaProducer``, ``KafkaConsumer``, ``KafkaAdminClient``) raise or act as told."""
    made: list[tuple[str, dict[str, Any]]] = []
    created: list[Any] = []
    faults = faults or {}

    def fault(client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        what = faults.get((type(client).__name__, method))
        if isinstance(what, BaseException):
            raise what
        return what(client, *args, **kwargs) if what is not None else None

    class Client:
        def __init__(self, **options: Any) -> None:
            options.pop("kafka_client", None)  # pipeline.kafkaclients' hook
            fault(self, "__init__", **options)
            made.append((type(self).__name__, options))

        def describe_topics(self) -> list[dict[str, Any]]:
            return []

        def create_topics(self, new: list[Any]) -> None:
            created.extend(new)

        def partitions_for_topic(self, topic: str) -> set[int]:
            fault(self, "partitions_for_topic", topic)
            return {0}

        def poll(self, **options: Any) -> dict[Any, Any]:
            fault(self, "poll", **options)
            return {}

        def send(self, *args: Any, **kwargs: Any) -> Future:
            # kafka-python's future for the record: taken, unless the fault gives another
            return fault(self, "send", *args, **kwargs) or Future().success(None)

        def assign(self, *_: Any) -> None:
            pass

        def seek_to_beginning(self, *_: Any) -> None:
            pass

        def flush(self, timeout: float | None = None) -> None:
            fault(self, "flush", timeout)

        def close(self, *args: Any, **kwargs: Any) -> None:
            fault(self, "close", *args, **kwargs)

    fakes = {
        name: type(name, (Client,), {}) for name in ("KafkaAdminClient", "KafkaProducer", "KafkaConsumer")
    }
    for module in [m for name, m in sys.modules.items() if name.startswith("pipeline")]:
        for name, fake in fakes.items():
            if getattr(module, name, None) is getattr(kafka, name):
                monkeypatch.setattr(module, name, fake)
    return made, created
