"""The demo's children: the scoring daemon and the retrainer as child processes (``python -m pipeline
run``, ``retrain --watch``) with the demo's settings, each in its own process group so a terminal's
Ctrl-C reaches only the demo, which then stops them in order; and the daemon's metrics port."""

from __future__ import annotations

import errno
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.broker import bind_port, die_with_parent, free_port
from pipeline.config import Settings, child_environment
from pipeline.configsource import ENV_PREFIX
from pipeline.demoregistry import demo_registry

if TYPE_CHECKING:
    from pipeline.demo import DemoOptions

__all__ = ["daemon_probe", "metrics_port", "retrainer_probe", "start_daemon", "start_retrainer", "stop_child"]


def metrics_port(host: str, port: int) -> tuple[int, str | None]:
    """The daemon's metrics port: the configured one when it is free on ``host`` (``metrics.host``),
    else one free there, and the line saying which when it is not the configured one (port 0 asks for
    a free one). A host that takes no port at all (an address this machine does not have) keeps it:
    the daemon then says it cannot serve there.

    >>> port, said = metrics_port("127.0.0.1", 0)
    >>> said == f"metrics: serving on port {port} (metrics.port 0 picks a free one)"
    True
    """
    if port == 0:
        try:
            chosen = free_port(host)
        except OSError:  # no port at all there: the daemon says so
            chosen = free_port()
        return chosen, f"metrics: serving on port {chosen} (metrics.port 0 picks a free one)"
    try:
        return bind_port(host, port), None
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            return port, None
    chosen = free_port(host)
    return chosen, f"metrics: port {port} is taken; using port {chosen} instead"


def start_daemon(
    settings: Settings,
    opts: DemoOptions,
    bootstrap: str,
    port: int,
    *,
    command: str = "run",
    extra: dict[str, str] | None = None,
) -> subprocess.Popen:
    overrides = {
        "KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "METRICS__ENABLED": "true",  # the demo's console reads records/s, lag, model and runs there
        "METRICS__PORT": str(port),
        # The retrainer's port (set for the retrainer below): a plant's config with metrics off may
        # leave it equal to metrics.port, which the settings refuse once metrics are on.
        "RETRAIN__METRICS_PORT": "0",
        "MODEL__REGISTRY": str(demo_registry(settings, opts.registry)[0].resolve()),
        # A single consumer joins its group in about the rebalance timeout: keep that short here.
        "KAFKA__MAX_POLL_INTERVAL_MS": "5000",
        "KAFKA__SESSION_TIMEOUT_MS": "6000",
        "KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        "LOGGING__LEVEL": "WARNING",
        # Readings carry wall-clock time, so the plant's time passes `speedup` times faster than theirs:
        # an alert held open for resolve_hold_s of it, as the setting means, is held that much shorter.
        "ALERTS__RESOLVE_HOLD_S": f"{settings.alerts.resolve_hold_s / opts.speedup:g}",
        "ALERTS__WARMUP_S": f"{settings.alerts.warmup_s / opts.speedup:g}",  # as long in the plant's time
        "ALERTS__WARMUP_AFTER_SILENCE_S": f"{settings.alerts.warmup_after_silence_s / opts.speedup:g}",
    } | (extra or {})
    env = child_environment(overrides, inherit=True)
    args = [command] + (["--watch"] if command == "retrain" else [])
    cmd = [sys.executable, "-m", "pipeline", *args] + (["--config", opts.config] if opts.config else [])
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )


def start_retrainer(
    settings: Settings, opts: DemoOptions, bootstrap: str, store: Path, kafka: dict[str, str]
) -> tuple[subprocess.Popen, int]:
    """The retrainer as a child process: quick triggers and a short training budget for a live demo."""
    port = free_port()
    extra = {
        "RETRAIN__METRICS_PORT": str(port),
        "RETRAIN__LABEL_STORE": str(store),
        "RETRAIN__MIN_NEW_LABELS": str(opts.retrain_labels),
        "RETRAIN__MIN_INTERVAL_S": "30",
        "RETRAIN__INTERVAL_S": "0",
        "RETRAIN__ON_DRIFT": "false",
        "RETRAIN__NORMAL_SAMPLE_EVERY": "2",
        # Readings carry wall-clock time: the plant's 5 minutes around an episode pass `speedup` times faster.
        "RETRAIN__EPISODE_MARGIN_S": f"{300.0 / opts.speedup:g}",
        "RETRAIN__MIN_NORMAL_ROWS": "200",
        "RETRAIN__HOLDOUT_BLOCK_S": "120",
        "RETRAIN__MAX_EPOCHS": str(opts.max_epochs),
        "RETRAIN__TIME_BUDGET_S": str(opts.time_budget),
        "LOGGING__LEVEL": "INFO",
    } | kafka
    return start_daemon(settings, opts, bootstrap, 0, command="retrain", extra=extra), port


def daemon_probe(settings: Settings, opts: DemoOptions, port: int) -> str:
    """The command that probes the demo's daemon from another terminal: ``dhag-pipeline probe`` asks
    ``metrics.port`` of the settings, where the daemon is not when :func:`metrics_port` chose another
    (that one taken, or port 0), nor anywhere when they turn metrics off.

    >>> from pipeline.demo import DemoOptions
    >>> daemon_probe(Settings(), DemoOptions(), 9108), daemon_probe(Settings(), DemoOptions(), 40123)
    ('dhag-pipeline probe', 'DHAG_PIPELINE_METRICS__PORT=40123 dhag-pipeline probe')
    """
    env = {} if port == settings.metrics.port else {"METRICS__PORT": str(port)}
    if port == settings.retrain.metrics_port:  # one port for both is refused once metrics are on
        env["RETRAIN__METRICS_PORT"] = "0"
    return _probe_command(settings, opts, env, [])


def retrainer_probe(settings: Settings, opts: DemoOptions, port: int) -> str:
    """The command that probes the demo's retrainer from another terminal: it serves on a free port,
    not on the ``retrain.metrics_port`` that ``probe --retrainer`` reads from the settings.

    >>> from pipeline.demo import DemoOptions
    >>> retrainer_probe(Settings(), DemoOptions(config="my plant.yaml"), 40123)
    "DHAG_PIPELINE_RETRAIN__METRICS_PORT=40123 dhag-pipeline probe --retrainer --config 'my plant.yaml'"
    """
    return _probe_command(settings, opts, {"RETRAIN__METRICS_PORT": str(port)}, ["--retrainer"])


def _probe_command(settings: Settings, opts: DemoOptions, env: dict[str, str], options: list[str]) -> str:
    """``dhag-pipeline probe`` with ``options``, the demo's ``--config`` and the settings ``env`` moves."""
    if not settings.metrics.enabled:  # the demo serves its metrics whatever the setting says
        env = env | {"METRICS__ENABLED": "true"}
    words = [f"{ENV_PREFIX}{key}={value}" for key, value in env.items()]
    words += ["dhag-pipeline", "probe", *options] + (["--config", opts.config] if opts.config else [])
    return shlex.join(words)


def stop_child(proc: subprocess.Popen, grace_s: float) -> int:
    """SIGTERM, then wait; the child's exit code (0 when our SIGTERM ended it before it had set up its
    own handler, as a child still starting does: it stopped as asked)."""
    if proc.poll() is not None:
        return int(proc.returncode)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return int(proc.returncode)
    return 0 if proc.returncode == -signal.SIGTERM else int(proc.returncode)
