"""The demo's terminal closed (its window, an ssh session dropped: SIGHUP) stops it as Ctrl-C does: its
children in order, its label store removed, its summary in ``--json``; the screen it can no longer write
(EIO) is no traceback."""

from __future__ import annotations

import errno
import io
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import pipeline.demo as demo
from pipeline.cli import main
from pipeline.demoscreen import Screen


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGHUP, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_hangup_stops_the_demo_as_ctrl_c_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handlers: None
) -> None:
    # Before: SIGHUP ended it at once, exit 129: no summary, its daemon and retrainer killed by the
    # kernel (SIGKILL, as their parent died), its label folder left in /tmp after each such run.
    seen: list[object] = []

    def run_demo(*args: object) -> int:
        seen.append(signal.getsignal(signal.SIGHUP))
        return 0

    monkeypatch.setattr(demo, "run_demo", run_demo)
    assert main(["demo", "--registry", str(tmp_path / "registry")]) == 0
    handler = seen[0]
    assert callable(handler), handler  # not the default action (the process ends at once), nor ignored
    with pytest.raises(KeyboardInterrupt):  # as run_demo takes Ctrl-C: it then stops in order
        handler(signal.SIGHUP, None)


def test_a_screen_whose_terminal_hung_up_drops_what_it_is_given() -> None:
    class HungUp(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.EIO, "Input/output error")

    screen = Screen(HungUp())
    assert screen.write("stopping\n") == 9 and screen.gone
    screen.flush()
    assert screen.write("summary: {}\n") == 12
