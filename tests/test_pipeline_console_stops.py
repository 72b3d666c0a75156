"""``alerts`` and ``label`` stopped from outside: the reader of their output gone (``alerts | head``) ends
the command quietly with 141, and Ctrl-C with one line saying what was done and 130, as ``dhag``'s
commands do, never with a traceback; ``label`` says whether the label may have been written (no broker
needed: the topics and the producer are stand-ins)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pipeline import alertscmd
from pipeline.cli import _console_parser
from pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
# `alerts` on 3000 episodes (its table far longer than a pipe's buffer), its topics stand-ins.
MANY = """
import sys
from types import SimpleNamespace
import orjson
from pipeline import alertscmd
from pipeline.cli import main
events = [
    {"alert_id": f"a{i}", "asset_id": "pump-01", "state": "open", "opened_at": 1e9 + i, "ts": 1e9 + i}
    for i in range(3000)
]
records = [SimpleNamespace(value=orjson.dumps(e)) for e in events]
alertscmd.read_topic = lambda _b, topic, *_: records if "alert" in topic else []
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("as_json", [False, True])
def test_alerts_whose_reader_went_away_ends_quietly_with_141(as_json: bool) -> None:
    # Before, `alerts | head` ended with a traceback of BrokenPipeError on stderr (exit 1).
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")} | {
        "PYTHONPATH": str(ROOT)
    }
    argv = ["alerts", "--bootstrap", "k:9092", "--limit", "3000"] + (["--json"] if as_json else [])
    with subprocess.Popen(
        [sys.executable, "-c", MANY, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what head does once it has its lines
        err = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert first.startswith(b'{"alert_id": "a2999"' if as_json else b"ALERT_ID"), first
    assert b"Traceback" not in err and b"Broken pipe" not in err and b"BrokenPipe" not in err, err
    assert code == 141


@pytest.mark.parametrize("limit", ["2", "3000"])
def test_alerts_whose_output_the_system_refuses_says_so_in_one_line_and_exits_1(limit: str) -> None:
    # Before, a traceback of OSError 'No space left on device' (exit 1), from the list's last write or
    # from the interpreter's last flush of a short list.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")} | {
        "PYTHONPATH": str(ROOT)
    }
    argv = ["alerts", "--bootstrap", "k:9092", "--limit", limit, "--json"]
    with open("/dev/full", "w") as full:  # a disk with no space left
        done = subprocess.run(
            [sys.executable, "-c", MANY, *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            timeout=120,
        )
    said = done.stderr.decode().splitlines()
    assert said[-1] == "alerts: cannot write the list to its output: No space left on device", said
    assert "Traceback" not in done.stderr.decode() and "Exception ignored" not in done.stderr.decode()
    assert done.returncode == 1


def _stopped(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str, str, str]:
    """The exit code, stdout and stderr of the console ``argv`` runs; a Ctrl-C that escapes it (a
    traceback, to an operator) is failed here rather than stopping the test session."""
    try:
        code: int | str = alertscmd.run_console(Settings(), _console_parser().parse_args(argv))
    except KeyboardInterrupt:
        code = "KeyboardInterrupt escaped: a traceback"
    said = capsys.readouterr()
    return code, said.out, said.err


def _consumer_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The alerts topic's read stopped by Ctrl-C."""

    def read_topic(*_: Any, **__: Any) -> Any:
        yield SimpleNamespace(value=orjson.dumps({"alert_id": "a1", "asset_id": "p", "state": "open"}))
        raise KeyboardInterrupt

    monkeypatch.setattr(alertscmd, "read_topic", read_topic)


def test_ctrl_c_while_alerts_reads_says_so_in_one_line_and_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, a traceback of KeyboardInterrupt from inside the Kafka client or the episodes' parsing.
    _consumer_stopped(monkeypatch)
    assert _stopped(["alerts", "--bootstrap", "k:9092"], capsys) == (
        130,
        "",
        "alerts: interrupted while reading the topics: nothing was listed\n",
    )


def test_ctrl_c_while_label_reads_says_no_label_was_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _consumer_stopped(monkeypatch)
    assert _stopped(["label", "a1", "--normal", "--operator", "kim", "--bootstrap", "k:9"], capsys) == (
        130,
        "",
        "label: interrupted before writing the label: no label was written\n",
    )


class _StoppedProducer:
    """A producer whose acknowledgement Ctrl-C stopped the wait for: the label may be on its way."""

    def __init__(self, **_: Any) -> None:
        pass

    def send(self, *_: Any, **__: Any) -> Any:
        def get(timeout: float) -> None:
            raise KeyboardInterrupt

        return SimpleNamespace(get=get)

    def close(self, timeout: float) -> None:
        pass


def test_ctrl_c_while_label_writes_says_the_label_may_have_been_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, a traceback that left the operator not knowing whether to label again.
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _StoppedProducer)
    argv = ["label", "a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092", "--unchecked"]
    code, out, err = _stopped(argv, capsys)
    said = err.splitlines()[-1]
    assert code == 130 and said == (
        "label: interrupted while writing the label: it may have been written; the same label given "
        "again counts once"
    ), said
    assert out == ""


def test_ctrl_c_while_label_writes_names_the_asset_to_look_the_label_up_by(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {"alert_id": "a1", "asset_id": "pump-01", "state": "open", "opened_at": 5.0, "ts": 5.0}
    records = [SimpleNamespace(value=orjson.dumps(event))]
    monkeypatch.setattr(
        alertscmd, "read_topic", lambda _b, topic, *_, **__: records if "alert" in topic else []
    )
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _StoppedProducer)
    argv = ["label", "a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"]
    assert _stopped(argv, capsys) == (
        130,
        "",
        "label: interrupted while writing the label: it may have been written; `dhag-pipeline alerts "
        "--asset pump-01` shows whether it was, and the same label given again counts once\n",
    )
