"""``dhag-pipeline probe --auto`` reads the config file the service it checks reads: a ``--config`` given
with ``~`` (exec-form, or ``--config=~/...``, where no shell expands it) in the home folder, as the
service takes it, and with no ``--config`` the ``config.yaml`` in the service's working folder. Before,
``~/c.yaml`` was read as a folder named ``~`` in the service's working folder (no such file: unhealthy,
however well the service ran), and a service started in another folder than the check's was checked on
the ports of the check's file. The service's own ``DHAG_PIPELINE_*`` variables, as it was started with
them, are read in place of the check's, and its home folder is its own: before, the check's
environment was read, which lacks what an entrypoint script exported."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pipeline.cli import main
from pipeline.metrics import serve_metrics
from pipeline.probecmd import container_main
from pipeline.probes import Probes


def _proc(root: Path, argv: list[str], cwd: Path, environ: dict[str, str] | None = None) -> Path:
    """A fake /proc whose PID 1 runs ``argv`` in ``cwd``, started with ``environ`` (None: not ours to
    read)."""
    (root / "1").mkdir(parents=True)
    (root / "1" / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    (root / "1" / "stat").write_bytes(b"1 (dhag-pipeline) S 0 1 1 0 -1 4194560 0 0\n")
    (root / "1" / "cwd").symlink_to(cwd)
    if environ is not None:
        (root / "1" / "environ").write_bytes(
            b"".join(f"{k}={v}".encode() + b"\0" for k, v in environ.items())
        )
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (home := tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in os.environ:
        if name.startswith("DHAG_PIPELINE_"):
            monkeypatch.delenv(name)
    return home


@pytest.fixture
def port() -> Iterator[int]:
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "argv",
    [
        ["dhag-pipeline", "retrain", "--watch", "--config=~/plant.yaml"],
        ["/sbin/docker-init", "--", "dhag-pipeline", "retrain", "--config", "~/plant.yaml"],
        ["/bin/sh", "-c", "cd /srv && exec dhag-pipeline retrain --config ~/plant.yaml"],
    ],
)
def test_a_config_given_with_a_tilde_is_read_from_the_home_folder(
    tmp_path: Path, home: Path, argv: list[str]
) -> None:
    proc = _proc(tmp_path / "proc", argv, tmp_path)
    assert container_main(proc) == ("retrainer", str(home / "plant.yaml"))


def test_the_probe_asks_the_port_of_the_file_in_the_home_folder(
    tmp_path: Path, home: Path, port: int, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import pipeline.probecmd

    (home / "plant.yaml").write_text(f"metrics: {{port: {port}}}\n")
    proc = _proc(tmp_path / "proc", ["dhag-pipeline", "run", "--config=~/plant.yaml"], tmp_path)
    monkeypatch.setattr(pipeline.probecmd, "PROC", proc)
    assert main(["probe", "--auto"]) == 0
    assert capsys.readouterr().out == f"ok: http://127.0.0.1:{port}/live answered 200\n"


def test_without_config_the_file_in_the_services_folder_is_read(tmp_path: Path, home: Path) -> None:
    (srv := tmp_path / "srv").mkdir()
    proc = _proc(tmp_path / "proc", ["sh", "-c", "cd /srv && exec dhag-pipeline run"], srv)
    assert container_main(proc) == ("daemon", None)  # none there: the check's own file stands in
    (srv / "config.yaml").write_text("metrics: {port: 9200}\n")
    assert container_main(proc) == ("daemon", str(srv / "config.yaml"))


def test_the_probe_asks_the_port_the_services_own_variables_give(
    tmp_path: Path, home: Path, port: int, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # An entrypoint script that exports the port before it starts the service: the health check runs
    # with the container's environment, which lacks it (before: the configured 9108 asked, unhealthy).
    import pipeline.probecmd

    (tmp_path / "config.yaml").write_text("{}\n")
    started = {"PATH": "/usr/bin", "DHAG_PIPELINE_METRICS__PORT": str(port)}
    proc = _proc(tmp_path / "proc", ["/bin/sh", "-c", "exec dhag-pipeline run"], tmp_path, started)
    monkeypatch.setattr(pipeline.probecmd, "PROC", proc)
    monkeypatch.setenv("DHAG_PIPELINE_METRICS__PORT", "9")  # the container's, which the script replaced
    assert main(["probe", "--auto"]) == 0
    assert capsys.readouterr().out == f"ok: http://127.0.0.1:{port}/live answered 200\n"


def test_a_tilde_is_the_services_home_folder(tmp_path: Path, home: Path) -> None:
    argv = ["dhag-pipeline", "run", "--config=~/plant.yaml"]
    proc = _proc(tmp_path / "proc", argv, tmp_path, {"HOME": "/home/dhag"})
    assert container_main(proc) == ("daemon", "/home/dhag/plant.yaml")
