"""Things other than a file or a folder where a lock file belongs (a named pipe, a socket): the command
stops at once, naming the path, what it is and what to do, with the exit code of a lock it cannot use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_pipeline_lockfiles import REPO

from pipeline import registry
from pipeline.errors import LockFileError
from pipeline.lockfile import flocked
from pipeline.retrain.command import EXIT_STORE


@contextmanager
def _socket_at(path: Path) -> Iterator[None]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        yield


@contextmanager
def _fifo_at(path: Path) -> Iterator[None]:
    os.mkfifo(path)
    yield


KINDS = {"a named pipe (FIFO)": _fifo_at, "a socket": _socket_at}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``dhag-pipeline ARGS`` in a child process, killed after 60 s (it waited on the lock for good)."""
    env = os.environ | {"PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pipeline", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def _within(seconds: float, lock: Path, call: Callable[[], object]) -> object:
    """``call()``'s value (or what it raised); fails when it is still running after ``seconds`` (then
    released: a writer that waits on a named pipe for a reader gets one)."""
    done: list[object] = []
    raised: list[BaseException] = []

    def work() -> None:
        try:
            done.append(call())
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            raised.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        with os.fdopen(os.open(lock, os.O_RDONLY | os.O_NONBLOCK)):
            worker.join(5)
        pytest.fail(f"still waiting on {lock} after {seconds} s")
    if raised:
        raise raised[0]
    return done[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_non_file_in_place_of_the_label_stores_lock_stops_the_retrainer_saying_what_to_do(
    tmp_path: Path, kind: str
) -> None:
    # Before: a named pipe held the retrainer at start for good (opening it waits for a reader), a
    # socket stopped it with "cannot open ...: No such device or address", naming no remedy.
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model:\n  registry: {registry_dir}\nmetrics:\n  enabled: false\n"
        "kafka:\n  bootstrap_servers: k:9092\n"
    )
    lock = registry_dir / "labels.sqlite.lock"
    with KINDS[kind](lock):
        done = _cli("retrain", "--once", "--config", str(config))
    assert done.returncode == EXIT_STORE, done.stderr
    assert f"{lock} is {kind}, where the lock file of the label store" in done.stderr
    assert "one retrainer per label store" in done.stderr and "remove it" in done.stderr
    assert not (registry_dir / "labels.sqlite").exists()  # nothing touched the store


@pytest.mark.parametrize("kind", KINDS)
def test_a_non_file_in_place_of_the_registry_lock_refuses_a_switch_saying_what_to_do(
    fitted, tmp_path: Path, kind: str
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    lock = tmp_path / ".lock"
    lock.unlink()
    with KINDS[kind](lock):
        done = _cli("models", "--registry", str(tmp_path), "rollback")
        assert done.returncode == 2, done.stderr
        assert f"{lock} is {kind}, where the lock file of the registry" in done.stderr
        assert "remove it" in done.stderr
        assert (tmp_path / "current").read_text().strip() == "v2"
        with pytest.raises(LockFileError, match="pointer switches"):  # the retrainer's publication
            _within(10, lock, lambda: registry.publish(tmp_path, fitted, "v3"))


def test_a_named_pipe_with_a_reader_is_refused_too(tmp_path: Path) -> None:
    # A reader on the other end lets it open; it is still no lock file.
    lock = tmp_path / "x.lock"
    os.mkfifo(lock)
    refused = pytest.raises(LockFileError, match=r"x\.lock is a named pipe \(FIFO\), where the lock file")
    reader = os.fdopen(os.open(lock, os.O_RDONLY | os.O_NONBLOCK))
    with reader, refused, flocked(lock, "one example at a time", "example", wait=False):
        pytest.fail("held a named pipe as its lock")


def test_a_lock_file_is_still_taken_and_written_as_before(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with flocked(lock, "one example at a time", "example", wait=False) as held:
        assert held and lock.read_text().startswith(f"process {os.getpid()} on ")
    with flocked(lock, "one example at a time", "example", wait=True) as held:
        assert held  # a file left behind is taken again
