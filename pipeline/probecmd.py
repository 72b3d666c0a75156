"""``dhag-pipeline probe``: the container health check. It reads the settings as the service does (the
config file, then the ``DHAG_PIPELINE_*`` environment) and asks the daemon's ``/live`` (or, with
``--retrainer``, the retrainer's) on the port those settings give, so a changed ``metrics.port`` or
``retrain.metrics_port`` moves the check with the service instead of marking it unhealthy.

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
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TextIO

from pipeline.config import Settings, load_settings
from pipeline.configsource import DEFAULT_CONFIG, config_file
from pipeline.errors import ConfigError

__all__ = ["DEFAULT_TIMEOUT_S", "add_arguments", "main", "probe", "probe_url"]

EXIT_OK, EXIT_UNHEALTHY = 0, 1
DEFAULT_TIMEOUT_S = 3.0  # below the 5 s Docker allows the whole check (deploy/Dockerfile)

# A service bound to every address answers on the loopback one; a probe cannot connect to "0.0.0.0".
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The probe's options (also listed by ``dhag-pipeline --help``)."""
    parser.add_argument(
        "--config", help=f"YAML settings (default: ./{DEFAULT_CONFIG} if present, else built-in defaults)"
    )
    parser.add_argument(
        "--retrainer", action="store_true", help="probe the retrainer (retrain.metrics_port), not the daemon"
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
    """``dhag-pipeline probe [--config FILE] [--retrainer] [--ready] [--timeout S]``; the exit code."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="dhag-pipeline probe", description="the container health check")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0), or argparse's usage error (2), which Docker reserves
        return EXIT_OK if not exc.code else EXIT_UNHEALTHY
    try:
        settings = load_settings(config_file(args.config), os.environ if environ is None else environ)
    except ConfigError as exc:
        out.write("; ".join(str(exc).splitlines()) + "\n")
        return EXIT_UNHEALTHY
    url, why = probe_url(settings, retrainer=args.retrainer, ready=args.ready)
    code, line = (EXIT_UNHEALTHY, f"unhealthy: {why}") if url is None else probe(url, args.timeout)
    out.write(line + "\n")
    return code
