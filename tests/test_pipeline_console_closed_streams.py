"""The consoles run with a standard stream closed (``alerts 2>&-``, ``label ... >&-``, as a cron job or a
supervisor may start them): with stderr closed what they would say there is said nowhere and the list
is listed, a label written as ever; with stdout closed ``alerts`` says on stderr that its list has
nowhere to go (exit 1, before reading Kafka), and ``label`` still writes its label, exit 0. Before,
Python's ``sys.stderr`` (or ``sys.stdout``) was None: ``alerts 2>&-`` listed nothing and exited 1, and
``label --unchecked 2>&-`` wrote no label, each with a traceback said nowhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The console with Kafka left out: two episodes on the topic, a producer that keeps what it is sent.
RUN = """
import sys
from types import SimpleNamespace
from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.cli import main

episodes = [Episode(f"a{k}", "pump-01", 1.8e9 + k, 0.9, "v1", ["flow"]) for k in range(2)]
alertscmd.read_episodes = lambda *_, **__: {e.alert_id: e for e in episodes}
alertscmd.ensure_labels_topic = lambda *_: False

class Producer:
    def __init__(self, **_):
        pass
    def send(self, topic, *, key, value):
        open(sys.argv[1], "ab").write(value + b"\\n")
        return SimpleNamespace(get=lambda timeout: None)
    def close(self, timeout):
        pass

alertscmd.KafkaProducer = Producer
sys.exit(main(sys.argv[2:]))
"""


def _run(closing: str, sent: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")} | {
        "PYTHONPATH": str(ROOT)
    }
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {closing}', "sh", sys.executable, "-c", RUN, str(sent), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_alerts_with_stderr_closed_lists_the_episodes(tmp_path: Path) -> None:
    done = _run("2>&-", tmp_path / "sent", "alerts", "--limit", "1", "--bootstrap", "k:9092")
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ALERT_ID") and lines[1].startswith("a1 ") and len(lines) == 2, done.stdout


@pytest.mark.parametrize("closing", ["2>&-", ">&-"])
def test_label_with_a_stream_closed_writes_its_label(closing: str, tmp_path: Path) -> None:
    sent = tmp_path / "sent"
    argv = ["label", "a9", "--anomaly", "--operator", "kim", "--unchecked", "--bootstrap", "k:9092"]
    done = _run(closing, sent, *argv)
    assert done.returncode == 0, done.stderr
    assert sent.exists() and len(sent.read_bytes().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_alerts_with_stdout_closed_says_the_list_has_nowhere_to_go(tmp_path: Path) -> None:
    done = _run(">&-", tmp_path / "sent", "alerts", "--bootstrap", "k:9092")
    assert done.returncode == 1
    assert (
        done.stderr
        == "alerts: standard output is closed (>&-): the list has nowhere to go; nothing was read\n"
    )
