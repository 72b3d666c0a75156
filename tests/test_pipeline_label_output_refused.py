"""``label`` whose standard output refuses its lines once the label is written (its reader gone:
``label ... | head -0``; a full disk) says on stderr that the label was written, with what it would have
said, and exits 0: before, a reader gone ended it with 141 and no word (a script took the label for
unwritten), and a full disk with a traceback (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# `label` with its topics and producer stand-ins; the producer says on fd 3 what it sent.
LABEL = """
import os, sys
from types import SimpleNamespace
import orjson
from pipeline import alertscmd
from pipeline.cli import main
event = {"schema": 1, "alert_id": "a1", "asset_id": "pump-01", "state": "open", "opened_at": 5.0, "ts": 5.0}
records = [SimpleNamespace(value=orjson.dumps(event), topic="anomaly-alerts", partition=0, offset=0,
                           timestamp=5000)]
alertscmd.read_topic = lambda _b, topic, *_, **__: records if "alert" in topic else []
alertscmd.ensure_labels_topic = lambda *a: False
class Producer:
    def __init__(self, **_): pass
    def send(self, topic, key, value):
        os.write(int(os.environ["SENT_FD"]), value + b"\\n")
        return SimpleNamespace(get=lambda timeout: None)
    def close(self, timeout): pass
alertscmd.KafkaProducer = Producer
sys.exit(main(sys.argv[1:]))
"""
ARGV = ["label", "a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"]
SAID = "labelled alert a1 (pump-01, opened 1970-01-01T00:00:05Z) as anomaly by kim"


def _label(stdout: object) -> tuple[int, str, bytes]:
    """Exit code, stderr and the labels sent of ``label`` run with ``stdout``."""
    sent_r, sent_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "SENT_FD": str(sent_w)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", LABEL, *ARGV],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            pass_fds=(sent_w,),
            timeout=120,
        )
        os.close(sent_w)
        sent_w = -1
        with os.fdopen(sent_r, "rb") as sent:
            return done.returncode, done.stderr.decode(), sent.read()
    finally:
        if sent_w >= 0:
            os.close(sent_w)


@pytest.mark.parametrize("why", ["its reader is gone", "No space left on device"])
def test_label_whose_output_refuses_its_lines_says_on_stderr_the_label_was_written(why: str) -> None:
    if why == "its reader is gone":
        read, write = os.pipe()
        os.close(read)  # `| head -0`: the reader gone before anything was written
        with os.fdopen(write, "wb") as gone:
            code, err, sent = _label(gone)
    else:
        with open("/dev/full", "wb") as full:
            code, err, sent = _label(full)
    assert b'"alert_id":"a1"' in sent and b'"label":"anomaly"' in sent
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.splitlines() == [
        f"label: standard output refused its lines ({why}); the label was written:",
        SAID,
    ]
    assert code == 0
