"""``dhag-pipeline probe``: the container health check. It reads the settings as the service does (the
config file, then the ``DHAG_PIPELINE_*`` environment) and asks the daemon's ``/live`` (or, with
``--retrainer``, the retrainer's) on the port those settings give, so a changed ``metrics.port`` or
``retrain.metrics_port`` moves the check with the service instead of marking it unhealthy. With
``--auto`` (the image's ``HEALTHCHECK``) it asks whichever of the two the container runs: the retrainer
when the container's main process is ``dhag-pipeline retrain``, else the daemon
(:func:`container_service`), so one image's check serves both.

One line on stdout, then the exit code: 0 the endpoint answered 200; 1 anything else: it answered
otherwise, could not be reached in ``--timeout`` seconds, the settings give it no fixed port
(``metrics.enabled: false``, or port 0), or they are invalid, or the options are (Docker reserves
exit code 2 of a health check; every failure is 1, the line says which). It imports none of the
service's heavy modules (no torch, no pandas), so a check every few seconds stays cheap.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from pipeline.config import Settings, load_settings
from pipeline.configsource import DEFAULT_CONFIG, config_file
from pipeline.errors import ConfigError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "add_arguments",
    "container_service",
    "main",
    "probe",
    "probe_url",
    "subcommand",
]

EXIT_OK, EXIT_UNHEALTHY = 0, 1
DEFAULT_TIMEOUT_S = 3.0  # below the 5 s Docker allows the whole check (deploy/Dockerfile)

# A service bound to every address answers on the loopback one; a probe cannot connect to "0.0.0.0".
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}

PROC = Path("/proc")  # where --auto reads the container's processes
_SHELLS = {"sh", "bash", "dash", "ash", "busybox"}  # whose `-c` string may start the service


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The probe's options (also listed by ``dhag-pipeline --help``)."""
    parser.add_argument(
        "--config", help=f"YAML settings (default: ./{DEFAULT_CONFIG} if present, else built-in defaults)"
    )
    service = parser.add_mutually_exclusive_group()
    service.add_argument(
        "--retrainer", action="store_true", help="probe the retrainer (retrain.metrics_port), not the daemon"
    )
    service.add_argument(
        "--auto",
        action="store_true",
        help="probe the service this container runs: the retrainer when its main process is "
        "`dhag-pipeline retrain`, else the daemon",
    )
    parser.add_argument("--ready", action="store_true", help="probe /ready instead of /live")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for the answer (default 3)"
    )


def probe_url(settings: Settings, *, retrainer: bool = False, ready: bool = False) -> tuple[str | None, str]:
    """The URL to probe, or None and why there is none.

    >>> probe_url(Settings())
    ('http://127.0.0.1:9108/live', '')
    >>> probe_url(Settings.model_validate({"metrics": {"host": "::"}}), retrainer=True, ready=True)
    ('http://[::1]:9110/ready', '')
    >>> probe_url(Settings.model_validate({"metrics": {"port": 0}}))
    (None, 'metrics.port is 0 (any free port): no fixed port to probe')
    """
    key = "retrain.metrics_port" if retrainer else "metrics.port"
    port = settings.retrain.metrics_port if retrainer else settings.metrics.port
    if not settings.metrics.enabled:
        return None, "metrics.enabled is false: no endpoint to probe"
    if port == 0:
        return None, f"{key} is 0 (any free port): no fixed port to probe"
    host = _WILDCARDS.get(settings.metrics.host, settings.metrics.host)
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{host}:{port}/{'ready' if ready else 'live'}", ""


def subcommand(argv: Sequence[str]) -> str | None:
    """The ``dhag-pipeline`` subcommand a process's command line runs, or None when it runs none.

    The command may come after an interpreter (a console script's shebang), an init and its options
    (``docker run --init``), or inside a shell's ``-c`` string.

    >>> subcommand(["/opt/venv/bin/python", "/opt/venv/bin/dhag-pipeline", "retrain", "--watch"])
    'retrain'
    >>> subcommand(["/sbin/docker-init", "--", "dhag-pipeline", "run", "--config", "/app/config.yaml"])
    'run'
    >>> subcommand(["python3", "-m", "pipeline", "retrain"])
    'retrain'
    >>> subcommand(["/bin/sh", "-c", "exec dhag-pipeline retrain --watch"])
    'retrain'
    >>> subcommand(["python", "-c", "import pipeline"]) is None
    True
    """
    for i, arg in enumerate(argv[:-1]):
        if arg.rsplit("/", 1)[-1] == "dhag-pipeline":
            return argv[i + 1]
        if arg == "-m" and argv[i + 1] == "pipeline":
            return argv[i + 2] if i + 2 < len(argv) else None
        if arg == "-c" and argv[0].rsplit("/", 1)[-1] in _SHELLS:
            try:
                return subcommand(shlex.split(argv[i + 1]))
            except ValueError:  # not shell words
                return None
    return None


def _cmdline(proc: Path, pid: str) -> list[str]:
    try:
        raw = (proc / pid / "cmdline").read_bytes()
    except OSError:  # gone, or hidden (hidepid)
        return []
    return raw.decode("utf-8", "replace").rstrip("\0").split("\0") if raw else []


def _children_of_init(proc: Path) -> list[str]:
    """The processes whose parent is PID 1 (from each ``/proc/PID/stat``: the field after the name)."""
    children = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or entry.name == "1":
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # the name, in parentheses, may hold spaces
        if len(fields) > 1 and fields[1] == "1":
            children.append(entry.name)
    return sorted(children, key=int)


def container_service(proc: Path | None = None) -> str:
    """``"retrainer"`` when this container runs ``dhag-pipeline retrain``, else ``"daemon"``.

    The container's main process is PID 1: the service itself (the image's exec-form ENTRYPOINT), or an
    init or a shell whose command line names it. When PID 1's command line runs no ``dhag-pipeline``
    subcommand (a script that starts the service without ``exec``), the commands PID 1 started decide:
    the retrainer when ``retrain`` is the only subcommand among them. ``probe`` itself never counts,
    and anything undecided (no ``/proc``, no such process) is the daemon.
    """
    proc = PROC if proc is None else proc
    main_command = subcommand(_cmdline(proc, "1"))
    if main_command is not None and main_command != "probe":
        return "retrainer" if main_command == "retrain" else "daemon"
    started = {subcommand(_cmdline(proc, pid)) for pid in _children_of_init(proc)} - {None, "probe"}
    return "retrainer" if started == {"retrain"} else "daemon"


def probe(url: str, timeout_s: float) -> tuple[int, str]:
    """GET ``url`` (no proxy: the service is on this host); ``(exit code, one line)``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as resp:
            return EXIT_OK, f"ok: {url} answered {resp.status}"
    except urllib.error.HTTPError as exc:
        with exc:
            try:
                body = exc.read(300).decode("utf-8", "replace").strip().splitlines()
            except (OSError, http.client.HTTPException):  # the status came, its reason did not
                body = []
        why = f": {body[0]}" if body else ""
        return EXIT_UNHEALTHY, f"unhealthy: {url} answered {exc.code}{why}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out, not HTTP
        reason = getattr(exc, "reason", None) or exc
        return EXIT_UNHEALTHY, f"unreachable: {url}: {reason}"


def main(argv: Sequence[str], environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """``dhag-pipeline probe [--config FILE] [--retrainer | --auto] [--ready] [--timeout S]``; exit code."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="dhag-pipeline probe", description="the container health check")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0), or argparse's usage error (2), which Docker reserves
        return EXIT_OK if not exc.code else EXIT_UNHEALTHY
    if not args.timeout > 0:  # no time to answer: every endpoint would read as unreachable
        out.write(f"usage error: --timeout must be above 0, got {args.timeout:g}\n")
        return EXIT_UNHEALTHY
    try:
        settings = load_settings(config_file(args.config), os.environ if environ is None else environ)
    except ConfigError as exc:
        out.write("; ".join(str(exc).splitlines()) + "\n")
        return EXIT_UNHEALTHY
    retrainer = args.retrainer or (args.auto and container_service() == "retrainer")
    url, why = probe_url(settings, retrainer=retrainer, ready=args.ready)
    code, line = (EXIT_UNHEALTHY, f"unhealthy: {why}") if url is None else probe(url, args.timeout)
    out.write(line + "\n")
    return code
