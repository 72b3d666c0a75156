"""The operator consoles answer quickly: ``alerts`` and ``label`` against an address where nothing
listens exit 3 within ``kafka.request_timeout_ms`` and the command's own start-up, which loads neither
the model library (torch) nor pandas: their import took longer than the Kafka client's wait."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.broker import free_port

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import json, sys
from pipeline.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in ("torch", "pandas", "dhag.estimator") if m in sys.modules)
print(json.dumps({"code": code, "loaded": loaded}))
"""
TIMEOUT_MS = 2000
# Start-up and the interpreter's exit, generous for a slow machine busy with other test workers
# (about 1 s alone; importing torch and pandas took 6 to 10 s more on a loaded two-core host): the
# modules loaded are what a regression fails on anywhere, the time what a slow Kafka give-up does.
START_UP_S = 15.0


@pytest.mark.parametrize("command", [["alerts"], ["label", "a-1", "--anomaly", "--operator", "kim"]])
def test_a_console_gives_up_on_an_unreachable_broker_within_the_request_timeout_and_its_start_up(
    command: list[str],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"DHAG_PIPELINE_KAFKA__REQUEST_TIMEOUT_MS": str(TIMEOUT_MS), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUN, *command, "--bootstrap", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    took = time.monotonic() - started
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 3, done.stderr
    assert "cannot" in done.stderr
    assert result["loaded"] == []  # the other subcommands' options need them; these two do not
    assert took < TIMEOUT_MS / 1000 + START_UP_S, f"{took:.1f} s"
