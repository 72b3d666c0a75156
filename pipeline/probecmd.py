"""``dhag-pipeline probe``: the container health check. It reads the settings as the service does (the
config file, then the ``DHAG_PIPELINE_*`` environment) and asks the daemon's ``/live`` (or, with
``--retrainer``, the retrainer's) on the port those settings give, so a changed ``metrics.port`` or
``retrain.metrics_port`` moves the check with the service instead of marking it unhealthy. With
``--auto`` (the image's ``HEALTHCHECK``) it asks whichever of the two the container runs: the retrainer
when the container's main process is ``dhag-pipeline retrain``, else the daemon, with the config file
that process reads and the ``DHAG_PIPELINE_*`` variables it was started with (:func:`container_settings`:
its ``--config``, ``~`` and a relative path taken as it took them), so one image's check serves both,
however the container was started.

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
from typing import NoReturn, TextIO

from dhag.infotext import shown_name
from pipeline.config import Settings, load_settings
from pipeline.configsource import DEFAULT_CONFIG, ENV_PREFIX, config_file
from pipeline.errors import ConfigError
from pipeline.scrape import reachable_host

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "add_arguments",
    "container_main",
    "container_settings",
    "container_service",
    "main",
    "probe",
    "probe_url",
    "subcommand",
]

EXIT_OK, EXIT_UNHEALTHY = 0, 1
DEFAULT_TIMEOUT_S = 3.0  # below the 5 s Docker allows the whole check (deploy/Dockerfile)
MAX_TIMEOUT_S = 86_400.0  # a check that may wait longer never reports; a socket takes no infinite wait

PROC = Path("/proc")  # where --auto reads the container's processes
_SHELLS = {"sh", "bash", "dash", "ash", "busybox", "zsh"}  # whose `-c` string may start the service
# A container's init: it starts the container's command and does nothing else, so what it started is
# the container's service. A host's init (systemd) starts every service of the host: not one of these.
_INITS = {"docker-init", "tini", "tini-static", "dumb-init", "catatonit"}
_SERVICES = {"run": "daemon", "retrain": "retrainer"}  # the subcommands that serve an endpoint
_OPERATORS = {"&&", "||", ";", "&", "|", "(", ")", ";;"}  # end a command in a shell string


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
        "`dhag-pipeline retrain`, else the daemon, with the --config it was started with (else this one's)",
    )
    parser.add_argument("--ready", action="store_true", help="probe /ready instead of /live")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds to wait for the answer (default 3, at most 86400)",
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
    return f"http://{reachable_host(settings.metrics.host)}:{port}/{'ready' if ready else 'live'}", ""


def _commands(argv: Sequence[str]) -> list[list[str]]:
    """The ``dhag-pipeline`` commands a command line runs: each a subcommand and its arguments.

    The command may come after an interpreter (a console script's shebang), an init and its options,
    or inside a shell's ``-c`` string, which may run several (``check-config && exec ... retrain``).
    """
    found: list[list[str]] = []
    for i, arg in enumerate(argv[:-1]):
        if arg.rsplit("/", 1)[-1] == "dhag-pipeline" or (arg == "-m" and argv[i + 1] == "pipeline"):
            start = i + 1 if arg != "-m" else i + 2
            rest = list(argv[start:])
            end = next((j for j, word in enumerate(rest) if word in _OPERATORS), len(rest))
            if rest[:end]:
                found.append(rest[:end])
            found.extend(_commands(rest[end:]))
            return found
        shell_c = arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]
        if shell_c and argv[0].rsplit("/", 1)[-1] in _SHELLS:
            return _commands(_shell_words(argv[i + 1]))
    return found


def _shell_words(command: str) -> list[str]:
    """A shell string's words, its control operators (``&&``, ``;``, ...) words of their own."""
    lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # not shell words (an unclosed quote)
        return []


def subcommand(argv: Sequence[str]) -> str | None:
    """The ``dhag-pipeline`` subcommand a process's command line runs, or None when it runs none: of
    several (a shell string), the first that serves an endpoint (``run``, ``retrain``).

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
    >>> subcommand(["sh", "-c", "dhag-pipeline check-config>/dev/null && exec dhag-pipeline retrain"])
    'retrain'
    >>> subcommand(["python", "-c", "import pipeline"]) is None
    True
    """
    command = _service_command(argv)
    return None if command is None else command[0]


def _service_command(argv: Sequence[str]) -> list[str] | None:
    commands = [c for c in _commands(argv) if c[0] != "probe"]
    return next((c for c in commands if c[0] in _SERVICES), commands[0] if commands else None)


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name`` in ``args`` (``--name V``, ``--name=V``, or a prefix argparse accepts)."""
    for i, arg in enumerate(args):
        option, equals, value = arg.partition("=")
        if len(option) >= 3 and name.startswith(option) and option.startswith("--"):
            if equals:
                return value
            return args[i + 1] if i + 1 < len(args) else None
    return None


def _cmdline(proc: Path, pid: str) -> list[str]:
    try:
        raw = (proc / pid / "cmdline").read_bytes()
    except OSError:  # gone, or hidden (hidepid)
        return []
    return raw.decode("utf-8", "replace").rstrip("\0").split("\0") if raw else []


def _parents(proc: Path) -> dict[str, str]:
    """Every process's parent (from each ``/proc/PID/stat``: the field after the name)."""
    parents = {}
    try:
        entries = [e for e in proc.iterdir() if e.name.isdigit()]
    except OSError:  # no /proc (another OS), or not readable
        return {}
    for entry in entries:
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:  # gone meanwhile
            continue
        # The name, in parentheses, is any bytes the process gave itself: spaces, ")", not UTF-8.
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 1:
            parents[entry.name] = fields[1].decode("ascii", "replace")
    return parents


def _descendants_of_init(proc: Path) -> list[str]:
    """The processes PID 1 started, and theirs, in order of PID. A ``docker exec`` (this probe among
    them) has no parent in the container: not one of them."""
    children: dict[str, list[str]] = {}
    for pid, parent in _parents(proc).items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get("1", []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(found, key=int)


def _starts_others(argv: Sequence[str]) -> bool:
    """PID 1 is a container's init or a shell (running a script): what it started is the service."""
    if not argv:
        return False
    return argv[0].rsplit("/", 1)[-1] in _INITS | _SHELLS


def container_main(proc: Path | None = None) -> tuple[str, str | None]:
    """The service this container runs, ``"retrainer"`` or ``"daemon"``, and the config file it reads
    (:func:`container_settings`)."""
    service, config, _ = container_settings(proc)
    return service, config


def container_settings(proc: Path | None = None) -> tuple[str, str | None, dict[str, str] | None]:
    """The service this container runs, ``"retrainer"`` or ``"daemon"``; the config file it reads: the
    ``--config`` it was started with (absolute: ``~`` its home folder, a relative one taken against its
    working folder), else the ``config.yaml`` in that folder, or None when there is none; and the
    ``DHAG_PIPELINE_*`` variables it was started with (its ``/proc/PID/environ``: those an entrypoint
    script exported count, which the health check's own environment lacks), or None when that is not
    ours to read or no service was found.

    The container's main process is PID 1: the service itself (the image's exec-form ENTRYPOINT), or an
    init or a shell whose command line names it. When PID 1 is an init or a shell whose command line
    runs no ``dhag-pipeline`` service (a script that starts it without ``exec``), the commands it
    started, and theirs, decide: the retrainer when ``retrain`` is the only service among them. Any
    other PID 1 (a host's systemd, which starts every service of the host) decides nothing by its
    children. ``probe`` itself never counts, and anything undecided (no ``/proc``, no such process) is
    the daemon.
    """
    proc = PROC if proc is None else proc
    init = _cmdline(proc, "1")
    command, pid = _service_command(init), "1"
    if (command is None or command[0] not in _SERVICES) and _starts_others(init):
        started = [(p, _service_command(_cmdline(proc, p))) for p in _descendants_of_init(proc)]
        services = [(p, c) for p, c in started if c is not None and c[0] in _SERVICES]
        if len({c[0] for _, c in services}) == 1:
            pid, command = services[0]
    service = _SERVICES.get(command[0]) if command is not None else None
    if service is None:
        return "daemon", None, None
    environ = _environ(proc, pid)
    config = _option(command[1:], "--config")
    if config is None:  # it read ./config.yaml where it runs, if there is one (else the check's stands in)
        config = _in_folder_of(proc, pid, DEFAULT_CONFIG)
        config = config if config is not None and os.path.lexists(config) else None
        return service, config, _settings_variables(environ)
    # As the service took it (configsource.config_file): ~ is its home folder, left as written by an
    # exec-form command or after --config=, where no shell expands it.
    home = (environ or {}).get("HOME")
    if home and (config == "~" or config.startswith("~/")):
        config = home + config[1:]
    config = os.path.expanduser(config)  # ~user, or no HOME of its own to read: the probe's
    if not os.path.isabs(config):
        config = _in_folder_of(proc, pid, config) or os.path.abspath(config)
    return service, config, _settings_variables(environ)


def _environ(proc: Path, pid: str) -> dict[str, str] | None:
    """The environment process ``pid`` was started with, or None when it is not ours to read."""
    try:
        raw = (proc / pid / "environ").read_bytes()
    except OSError:
        return None
    pairs = (entry.partition("=") for entry in os.fsdecode(raw).split("\0") if "=" in entry)
    return {name: value for name, _, value in pairs}


def _settings_variables(environ: dict[str, str] | None) -> dict[str, str] | None:
    """The variables of ``environ`` that :func:`~pipeline.config.load_settings` reads (a prefix in other
    letters too, which it refuses)."""
    if environ is None:
        return None
    return {name: value for name, value in environ.items() if name.upper().startswith(ENV_PREFIX)}


def _in_folder_of(proc: Path, pid: str, path: str) -> str | None:
    """``path`` (relative) in the working folder of process ``pid``, or None when that is not ours to
    read (the probe's own folder then stands in: the image's WORKDIR, as the service's)."""
    try:
        return os.path.join(os.readlink(proc / pid / "cwd"), path)
    except OSError:
        return None


def container_service(proc: Path | None = None) -> str:
    """``"retrainer"`` when this container runs ``dhag-pipeline retrain``, else ``"daemon"``
    (:func:`container_main`)."""
    return container_main(proc)[0]


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
        # Whatever listens on the port wrote it: a terminal's escape in it is shown, not acted on.
        why = f": {shown_name(body[0])}" if body else ""
        return EXIT_UNHEALTHY, f"unhealthy: {url} answered {exc.code}{why}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out, not HTTP
        reason = getattr(exc, "reason", None) or exc
        return EXIT_UNHEALTHY, f"unreachable: {url}: {reason}"


class _UsageError(Exception):
    """An option argparse refuses (its words)."""


class _OneLineParser(argparse.ArgumentParser):
    """Refuses an option in the probe's one line on stdout (:class:`_UsageError`), not with argparse's
    usage and error on stderr: a health check's output is what ``docker inspect`` shows of it."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def main(argv: Sequence[str], environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """``dhag-pipeline probe [--config FILE] [--retrainer | --auto] [--ready] [--timeout S]``; exit code."""
    out = out or sys.stdout
    parser = _OneLineParser(prog="dhag-pipeline probe", description="the container health check")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        out.write(f"usage error: {exc}\n")
        return EXIT_UNHEALTHY
    except SystemExit as exc:  # --help (0)
        return EXIT_OK if not exc.code else EXIT_UNHEALTHY
    if not args.timeout > 0:  # no time to answer: every endpoint would read as unreachable
        out.write(f"usage error: --timeout must be above 0, got {args.timeout:g}\n")
        return EXIT_UNHEALTHY
    if args.timeout > MAX_TIMEOUT_S:
        out.write(
            f"usage error: --timeout must be at most {MAX_TIMEOUT_S:.0f} seconds (a day), "
            f"got {args.timeout:g}\n"
        )
        return EXIT_UNHEALTHY
    retrainer, config = args.retrainer, args.config
    environ = os.environ if environ is None else environ
    if args.auto:  # the service the container runs, with the settings file and variables it started with
        service, started_with, variables = container_settings()
        retrainer, config = service == "retrainer", started_with or args.config
        if variables is not None:
            environ = {k: v for k, v in environ.items() if not k.upper().startswith(ENV_PREFIX)} | variables
    try:
        settings = load_settings(config_file(config), environ)
    except ConfigError as exc:
        out.write("; ".join(str(exc).splitlines()) + "\n")
        return EXIT_UNHEALTHY
    url, why = probe_url(settings, retrainer=retrainer, ready=args.ready)
    code, line = (EXIT_UNHEALTHY, f"unhealthy: {why}") if url is None else probe(url, args.timeout)
    out.write(line + "\n")
    return code
