"""``dhag-pipeline probe``, the containers' health check: it asks the endpoint the settings (file, then
environment) give the daemon or the retrainer, answers in one line, and stays cheap."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pipeline.cli import main
from pipeline.metrics import serve_metrics
from pipeline.probes import Probes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def endpoint() -> Iterator[tuple[int, Probes]]:
    """A service's metrics endpoint in this process, on a free loopback port, with its probes."""
    probes = Probes()
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, probes)
    try:
        yield port, probes
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound by this test, so taken by nobody else, and not
    listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("DHAG_PIPELINE_"):
            monkeypatch.delenv(name)


def _probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["probe", *args])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # one line: what `docker inspect` shows of a health check
    return code, out.strip()


def test_the_probe_follows_the_port_set_in_the_config_file(endpoint, tmp_path: Path, capsys) -> None:
    port, probes = endpoint
    config = tmp_path / "config.yaml"
    config.write_text(f"metrics: {{port: {port}}}\n")  # host 0.0.0.0: probed on the loopback address
    assert _probe(capsys, "--config", str(config)) == (0, f"ok: http://127.0.0.1:{port}/live answered 200")
    probes.attach(ready=lambda: None, live=lambda: "the loop has not turned for 300 s")
    assert _probe(capsys, "--config", str(config)) == (
        1,
        f"unhealthy: http://127.0.0.1:{port}/live answered 503: the loop has not turned for 300 s",
    )


def test_the_probe_follows_an_environment_override_and_asks_the_retrainer_on_its_port(
    endpoint, tmp_path: Path, monkeypatch, capsys
) -> None:
    port, probes = endpoint
    config = tmp_path / "config.yaml"
    config.write_text("metrics: {port: 9108}\nretrain: {metrics_port: 9110}\n")
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__HOST", "127.0.0.1")
    monkeypatch.setenv("DHAG_PIPELINE_RETRAIN__METRICS_PORT", str(port))
    code, line = _probe(capsys, "--config", str(config), "--retrainer")
    assert (code, line) == (0, f"ok: http://127.0.0.1:{port}/live answered 200")
    # /ready says why not, until the service has attached its own checks.
    assert _probe(capsys, "--config", str(config), "--retrainer", "--ready") == (
        1,
        f"unhealthy: http://127.0.0.1:{port}/ready answered 503: starting",
    )
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", str(port))
    monkeypatch.setenv("DHAG_PIPELINE_RETRAIN__METRICS_PORT", "9110")
    assert _probe(capsys, "--config", str(config))[0] == 0  # the daemon's port, now the endpoint's


def test_nothing_listening_or_no_fixed_port_is_unhealthy_with_the_reason(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    with socket.socket() as sock:  # a port nothing listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", str(port))
    code, line = _probe(capsys)
    assert code == 1 and line.startswith(f"unreachable: http://127.0.0.1:{port}/live: ")
    assert "refused" in line.lower()
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", "0")
    assert _probe(capsys) == (1, "unhealthy: metrics.port is 0 (any free port): no fixed port to probe")
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__ENABLED", "false")
    assert _probe(capsys, "--retrainer") == (1, "unhealthy: metrics.enabled is false: no endpoint to probe")


def test_an_endpoint_that_never_answers_fails_within_the_timeout(monkeypatch, capsys) -> None:
    with socket.socket() as sock:  # accepts connections (the backlog), never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", str(sock.getsockname()[1]))
        started = time.monotonic()
        code, line = _probe(capsys, "--timeout", "0.5")
    assert time.monotonic() - started < 3.0
    assert code == 1 and line.startswith("unreachable: ") and "timed out" in line


def test_a_503_whose_body_never_comes_is_unhealthy_in_one_line(monkeypatch, capsys) -> None:
    # Before, the body's read timed out inside the error handler: a traceback, not one line.
    import threading

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        done = threading.Event()

        def answer() -> None:
            conn, _ = sock.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\nstar")
                done.wait(5)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", str(sock.getsockname()[1]))
        started = time.monotonic()
        code, line = _probe(capsys, "--timeout", "0.5")
        done.set()
        thread.join(5)
    assert time.monotonic() - started < 3.0
    assert code == 1 and line.startswith("unhealthy: ") and "answered 503" in line and "\n" not in line


def test_a_proxy_in_the_environment_is_not_used_for_the_local_endpoint(endpoint, monkeypatch, capsys) -> None:
    port, _ = endpoint
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", str(port))
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing there: a proxied request would fail
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert _probe(capsys)[0] == 0


def test_the_probe_imports_neither_torch_nor_pandas(tmp_path: Path, refused_port: int) -> None:
    # Docker runs it every 15 s with a 5 s timeout: the other commands' imports take seconds. --auto
    # (the image's check) reads this machine's processes on top.
    script = (
        "import json, sys; from pipeline.cli import main; "
        "code = main(['probe', '--auto', '--timeout', '0.2']); "
        "print(json.dumps([code, sorted(m for m in ('torch', 'pandas', 'kafka') if m in sys.modules)]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "DHAG_PIPELINE_METRICS__PORT": str(refused_port)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    code, heavy = json.loads(result.stdout.splitlines()[-1])
    assert code == 1 and heavy == []


def _proc(root: Path, *processes: tuple[int, int, list[str]]) -> Path:
    """A fake /proc: each (pid, parent pid, command line), written as the kernel writes them."""
    for pid, ppid, argv in processes:
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
        name = argv[0].rsplit("/", 1)[-1][:15].encode() if argv else b"kworker"
        # A name is any bytes a process gave itself (prctl): not always UTF-8, may hold ") ".
        name = b"\xff) x" if argv[:1] == ["odd-name"] else name
        stat = b"%d (%s) S %d %d %d 0 -1 4194560 0 0\n" % (pid, name, ppid, pid, pid)
        (root / str(pid) / "stat").write_bytes(stat)
    (root / "self").mkdir(parents=True, exist_ok=True)  # not a process directory: skipped
    return root


VENV = ["/opt/venv/bin/python", "/opt/venv/bin/dhag-pipeline"]
PROBE = [*VENV, "probe", "--auto", "--config", "/app/config.yaml"]
RETRAINER, DAEMON = "retrainer", "daemon"


@pytest.mark.parametrize(
    ("processes", "service"),
    [
        # The image's exec-form ENTRYPOINT: the service is PID 1 (a console script under its interpreter).
        ([(1, 0, [*VENV, "retrain", "--watch", "--config", "/app/config.yaml"])], "retrainer"),
        ([(1, 0, [*VENV, "run", "--config", "/app/config.yaml"])], "daemon"),
        # `docker run --init` / compose `init: true`: docker-init with the command after `--`.
        ([(1, 0, ["/sbin/docker-init", "--", "dhag-pipeline", "retrain", "--watch"])], "retrainer"),
        ([(1, 0, ["/sbin/docker-init", "--", "dhag-pipeline", "run"])], "daemon"),
        # tini and dumb-init with options of their own, before the command.
        (
            [(1, 0, ["/usr/bin/tini", "-s", "-g", "-p", "SIGTERM", "--", "dhag-pipeline", "retrain"])],
            "retrainer",
        ),
        ([(1, 0, ["dumb-init", "--rewrite", "15:2", "dhag-pipeline", "retrain"])], "retrainer"),
        # `python -m pipeline` and a shell's `-c` string (the shell may or may not exec it).
        ([(1, 0, ["python3", "-m", "pipeline", "retrain", "--watch"])], "retrainer"),
        (
            [(1, 0, ["/bin/sh", "-c", "exec dhag-pipeline retrain --watch --config '/etc/my dhag/c.yaml'"])],
            "retrainer",
        ),
        ([(1, 0, ["/bin/sh", "-c", "dhag-pipeline run; echo stopped"])], "daemon"),
        # A script that starts the service without exec: its child decides; the probe itself never does.
        (
            [
                (1, 0, ["/bin/sh", "/entrypoint.sh"]),
                (7, 1, [*VENV, "retrain", "--watch"]),
                (9, 1, ["sleep", "60"]),
                (30, 0, PROBE),
            ],
            "retrainer",
        ),
        ([(1, 0, ["/bin/sh", "/entrypoint.sh"]), (7, 1, [*VENV, "run"]), (30, 0, PROBE)], "daemon"),
        # A script started by an init (`docker run --init IMAGE` with a script as its command): the
        # service is the init's grandchild.
        (
            [
                (1, 0, ["/sbin/docker-init", "--", "/entrypoint.sh"]),
                (6, 1, ["/bin/bash", "/entrypoint.sh"]),
                (7, 6, [*VENV, "retrain", "--watch"]),
            ],
            "retrainer",
        ),
        # Another process whose name is not UTF-8 (or holds ") ") beside the service.
        (
            [
                (1, 0, ["/bin/sh", "/entrypoint.sh"]),
                (5, 1, ["odd-name"]),
                (7, 1, [*VENV, "retrain", "--watch"]),
            ],
            "retrainer",
        ),
        # A shell string that checks the settings before it starts the service.
        (
            [
                (
                    1,
                    0,
                    [
                        "/bin/sh",
                        "-c",
                        "dhag-pipeline check-config >/dev/null&&exec dhag-pipeline retrain --watch",
                    ],
                )
            ],
            "retrainer",
        ),
        (
            [(1, 0, ["bash", "-ec", "dhag-pipeline models list; exec dhag-pipeline retrain --watch"])],
            "retrainer",
        ),
        ([(1, 0, ["sh", "-c", "dhag-pipeline check-config\nexec dhag-pipeline retrain"])], "retrainer"),
        # Not a container's init: a host's PID 1 (systemd) starts every service of the host, whichever
        # one this probe is meant for; its children decide nothing.
        (
            [(1, 0, ["/usr/lib/systemd/systemd", "--system"]), (700, 1, [*VENV, "retrain", "--watch"])],
            "daemon",
        ),
        ([(1, 0, ["/sbin/init", "splash"]), (700, 1, [*VENV, "retrain", "--watch"])], "daemon"),
        # Undecided, or a container of the image running neither service: the daemon, as before.
        (
            [(1, 0, ["/bin/sh", "/entrypoint.sh"]), (7, 1, [*VENV, "retrain"]), (8, 1, [*VENV, "run"])],
            "daemon",
        ),
        ([(1, 0, ["python", "-c", "import pipeline.demo; print('a \"quote')"])], "daemon"),
        ([(1, 0, [*VENV, "simulate", "--rate", "48"])], "daemon"),
        ([(1, 0, ["/opt/venv/bin/dhag-pipeline"])], "daemon"),  # no subcommand
        ([(1, 0, [])], "daemon"),  # a kernel thread's empty command line
        ([], "daemon"),  # no PID 1 readable (another OS, hidepid)
    ],
)
def test_auto_probes_the_service_the_container_runs(tmp_path: Path, processes, service) -> None:
    from pipeline.probecmd import container_service

    assert container_service(_proc(tmp_path / "proc", *processes)) == service
    assert container_service(tmp_path / "no-proc") == "daemon"  # no /proc at all


def test_auto_asks_the_retrainers_port_in_a_retrainer_container(
    endpoint, refused_port: int, tmp_path: Path, monkeypatch, capsys
) -> None:
    import pipeline.probecmd

    port, _ = endpoint
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", str(refused_port))  # the daemon's port refuses
    monkeypatch.setenv("DHAG_PIPELINE_RETRAIN__METRICS_PORT", str(port))
    retrainer = _proc(tmp_path / "retrainer", (1, 0, [*VENV, "retrain", "--watch"]))
    monkeypatch.setattr(pipeline.probecmd, "PROC", retrainer)
    assert _probe(capsys, "--auto") == (0, f"ok: http://127.0.0.1:{port}/live answered 200")
    assert _probe(capsys, "--auto", "--ready") == (
        1,
        f"unhealthy: http://127.0.0.1:{port}/ready answered 503: starting",
    )
    daemon = _proc(tmp_path / "daemon", (1, 0, [*VENV, "run"]))
    monkeypatch.setattr(pipeline.probecmd, "PROC", daemon)
    code, line = _probe(capsys, "--auto")
    assert code == 1 and line.startswith(f"unreachable: http://127.0.0.1:{refused_port}/live: ")
    # --auto decides between the two; naming one of them as well is a usage error.
    assert _probe(capsys, "--auto", "--retrainer") == (
        1,
        "usage error: argument --retrainer: not allowed with argument --auto",
    )


@pytest.mark.parametrize(
    ("timeout", "said"),
    [
        # A live endpoint read "unreachable: ...: [Errno 115] Operation now in progress" with --timeout 0.
        ("0", "must be above 0, got 0"),
        ("-1", "must be above 0, got -1"),
        # --timeout inf ended in OverflowError's traceback from the socket; no health check waits forever.
        ("inf", "must be at most 86400 seconds (a day), got inf"),
        ("1e12", "must be at most 86400 seconds (a day), got 1e+12"),
    ],
)
def test_a_timeout_no_probe_can_wait_is_named_not_reported_as_an_unreachable_service(
    endpoint, tmp_path: Path, capsys, timeout: str, said: str
) -> None:
    port, _probes = endpoint
    config = tmp_path / "config.yaml"
    config.write_text(f"metrics: {{port: {port}}}\n")
    code, line = _probe(capsys, "--config", str(config), "--timeout", timeout)
    assert (code, line) == (1, f"usage error: --timeout {said}")


def test_auto_reads_the_settings_the_container_was_started_with(
    endpoint, refused_port: int, tmp_path: Path, monkeypatch, capsys
) -> None:
    # `docker run IMAGE retrain --watch --config /etc/plant/retrain.yaml`: the image's check names the
    # image's config file; the retrainer listens where its own file says.
    import pipeline.probecmd

    port, _ = endpoint
    image_config = tmp_path / "app" / "config.yaml"  # the image's file: the documented ports
    image_config.parent.mkdir()
    image_config.write_text(f"retrain: {{metrics_port: {refused_port}}}\n")
    own = tmp_path / "etc" / "retrain.yaml"
    own.parent.mkdir()
    own.write_text(f"retrain: {{metrics_port: {port}}}\n")
    check = ["--auto", "--config", str(image_config)]
    for argv in (
        [*VENV, "retrain", "--watch", "--config", str(own)],
        [*VENV, "retrain", f"--config={own}", "--watch"],
        ["/bin/sh", "-c", f"exec dhag-pipeline retrain --watch --config {own}"],
    ):
        proc = _proc(tmp_path / f"proc-{len(argv)}-{argv[-1][-4:]}", (1, 0, argv))
        monkeypatch.setattr(pipeline.probecmd, "PROC", proc)
        assert _probe(capsys, *check) == (0, f"ok: http://127.0.0.1:{port}/live answered 200"), argv
    # A relative --config is the service's, from its working folder (its /proc/PID/cwd).
    proc = _proc(
        tmp_path / "proc-relative", (1, 0, [*VENV, "retrain", "--watch", "--config", "retrain.yaml"])
    )
    (proc / "1" / "cwd").symlink_to(own.parent)
    monkeypatch.setattr(pipeline.probecmd, "PROC", proc)
    assert _probe(capsys, *check) == (0, f"ok: http://127.0.0.1:{port}/live answered 200")
    # A service started without --config reads ./config.yaml where it runs: the check's file stands in.
    proc = _proc(tmp_path / "proc-none", (1, 0, [*VENV, "retrain", "--watch"]))
    monkeypatch.setattr(pipeline.probecmd, "PROC", proc)
    code, line = _probe(capsys, *check)
    assert code == 1 and line.startswith(f"unreachable: http://127.0.0.1:{refused_port}/live: "), line
