"""``dhag-pipeline demo`` end to end: a short run with a small fleet trains, scores, alerts and cleans up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ARGS = ["--assets", "4", "--speedup", "30", "--fault-rate", "6", "--every", "5", "--operator-delay", "1"]
TRAIN = ["--history-hours", "6", "--max-epochs", "5", "--time-budget", "8"]


def _demo(tmp_path: Path, port: int, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {
        "DHAG_PIPELINE_MODEL__REGISTRY": str(tmp_path / "registry"),
        "DHAG_PIPELINE_METRICS__PORT": str(port),
        "DHAG_PIPELINE_SHUTDOWN_GRACE_S": "10",
    }
    cmd = [sys.executable, "-m", "pipeline", "demo", *ARGS, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_demo_finds_injected_faults_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with socket.socket() as taken:  # the configured metrics port is in use: the demo must pick another
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        first = _demo(tmp_path, port, "--duration", "30", *TRAIN, "--json", str(tmp_path / "s.json"))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert "training one" in first.stdout and "published" in first.stdout
    assert f"port {port} is taken; using port" in first.stdout
    assert "records/s scored" in first.stdout and "http://127.0.0.1:" in first.stdout
    assert summary["daemon_exit_code"] == 0 and summary["records_produced"] > 500
    assert summary["faults_started"] >= 1 and summary["true_positive_alerts"] >= 1
    assert summary["faults_detected"] >= 1
    # The simulated operator answered alerts; the retrainer ran beside the daemon and stopped cleanly.
    assert "retrainer pid" in first.stdout and "model in use" in first.stdout
    assert summary["labels_given"] >= 1 and summary["retrainer_exit_code"] == 0
    assert summary["precision_by_model"]
    # Two versions, told apart by name: the one the daemon started with (trained by this run), and
    # the one it scored with at the end (a version the retrainer promoted meanwhile, or the same).
    # They were "model_version" and "model_in_use".
    assert f"trained and published {summary['model_at_start']} in" in first.stdout
    assert (tmp_path / "registry" / f"{summary['model_at_end']}.dhag").is_file()
    assert not {"model_version", "model_in_use"} & set(summary)
    assert len(summary["child_pids"]) == 3
    assert not [pid for pid in summary["child_pids"] if _alive(pid)]

    # Stopped by SIGTERM (docker stop, kill), as by Ctrl-C: in order, with its summary, nothing left.
    # Before, SIGTERM ended it at once: no summary, its children killed, its label store left in /tmp.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {
        "DHAG_PIPELINE_MODEL__REGISTRY": str(tmp_path / "registry"),
        "DHAG_PIPELINE_SHUTDOWN_GRACE_S": "10",
    }
    env |= {"DHAG_PIPELINE_METRICS__PORT": str(port), "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pipeline", "demo", *ARGS, "--duration", "300", *TRAIN]
    again = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert again.stdout is not None
    lines = []
    for line in again.stdout:
        lines.append(line)
        if "records/s scored" in line:
            break
    again.send_signal(signal.SIGTERM)
    out = "".join(lines) + again.stdout.read()
    assert again.wait(60) == 0, out[-3000:]
    assert "reusing" in out and "training one" not in out
    assert "summary: " in out and not list(tmp_path.glob("dhag-demo-labels-*"))


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--assets", "0"], "--assets must be at least 1, got 0"),
        (["--rate", "0"], "--rate must be above 0, got 0"),
        (["--speedup", "-1"], "--speedup must be above 0, got -1"),
        (["--every", "0"], "--every must be above 0, got 0"),
        (["--duration", "-5"], "--duration must be above 0, got -5"),
        (["--operator-errors", "2"], "--operator-errors must be within 0-1, got 2"),
        (["--fault-rate", "-0.1"], "--fault-rate must be 0 or more, got -0.1"),
        (["--retrain-labels", "0"], "--retrain-labels must be at least 1, got 0"),
        # A frozen plant streamed as fast as it goes, NaN readings, a history of NaN rows (a traceback),
        # a fault schedule drawn without end; a seed numpy refuses without naming it.
        (["--rate", "inf"], "--rate must be a finite number above 0, got inf"),
        (["--speedup", "inf"], "--speedup must be a finite number above 0, got inf"),
        (["--history-hours", "inf"], "--history-hours must be a finite number above 0, got inf"),
        (["--fault-rate", "inf"], "--fault-rate must be a finite number, 0 or more, got inf"),
        (["--seed", "-1"], "--seed must be 0 or more, got -1"),
        # Found once the run was over: a traceback (FileNotFoundError, IsADirectoryError), no file.
        (["--json", "/no-such-folder/s.json"], "--json /no-such-folder/s.json: no folder /no-such-folder"),
        (["--json", "/"], "--json / is a folder: name the file to write the summary to"),
        (["--stop", "fan-9:60:60"], "demo: --stop 'fan-9:60:60': 'fan-9' is no asset of this fleet"),
        (["--stop", "fan-01:60"], "demo: --stop takes ASSET:AT:DURATION"),
        (["--assets", "2", "--stop", "compressor-01:0:60"], "'compressor-01' is no asset of this fleet"),
    ],
)
def test_a_demo_option_out_of_range_is_a_usage_error_before_anything_starts(
    argv: list[str], said: str, capsys, monkeypatch
) -> None:
    # They started the broker and the daemon, then raised a traceback (--assets 0, --operator-errors 2),
    # printed "the simulator stopped" (--rate 0), a summary in a tight loop (--every 0), or ran backwards.
    from pipeline.cli import main

    monkeypatch.setattr("pipeline.demo.run_demo", lambda *a, **k: pytest.fail("the demo started"))
    assert main(["demo", *argv]) == 2
    assert said in capsys.readouterr().err


def test_ctrl_c_while_the_first_model_trains_stops_the_demo_with_its_summary(tmp_path: Path) -> None:
    # Before: a KeyboardInterrupt traceback out of the training, no "stopping", no summary.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"DHAG_PIPELINE_MODEL__REGISTRY": str(tmp_path / "registry"), "PYTHONUNBUFFERED": "1"}
    env |= {"TMPDIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "pipeline", "demo", *ARGS, "--history-hours", "2", "--max-epochs", "200"]
    cmd += ["--time-budget", "120", "--json", str(tmp_path / "s.json")]
    demo = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert demo.stdout is not None
    lines = []
    for line in demo.stdout:
        lines.append(line)
        if "of normal operation" in line:  # training starts
            break
    demo.send_signal(signal.SIGINT)
    out, err = demo.communicate(timeout=60)
    out = "".join(lines) + out
    assert demo.returncode == 0, out[-3000:] + err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert "\nstopping\n" in out and "summary: " in out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["model_at_start"] is None and summary["child_pids"] == []
    assert not list((tmp_path / "registry").glob("*.dhag")) and not list(tmp_path.glob("dhag-demo-labels-*"))


def test_the_demo_stops_the_machines_it_is_told_to(monkeypatch) -> None:
    from pipeline.cli import main

    given = []
    monkeypatch.setattr("pipeline.demo.run_demo", lambda settings, opts: given.append(opts.stops) or 0)
    assert main(["demo", "--stop", "fan-01:600:900", "--stop", "pump-02:0:60"]) == 0
    assert given == [("fan-01:600:900", "pump-02:0:60")]
