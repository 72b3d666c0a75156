"""``alerts`` and ``label`` stopped from outside: the reader of their output gone (``alerts | head``) ends
the command quietly with 141, as ``dhag``'s commands do, never with a traceback (no broker needed: the
topics are stand-ins)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
