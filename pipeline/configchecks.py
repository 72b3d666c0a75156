"""What :func:`pipeline.config.load_settings` settles once the settings are valid one by one: that no two
listeners want the same port."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipeline.configsource import env_source
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = ["check_ports"]


def check_ports(settings: Settings, environ: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` naming both keys when the daemon's and the retrainer's metrics ports
    are one non-zero port: both listen on ``metrics.host``, and one config serves both processes (the
    Kubernetes ConfigMap, the compose file's and ``make run``'s config.yaml), so on one host the second
    to start could not bind, maybe days after the first. Port 0 (a free port each) never collides; with
    ``metrics.enabled: false`` neither listens.

    >>> from pipeline.config import Settings
    >>> check_ports(Settings.model_validate({"metrics": {"port": 9110}}), {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline.errors.ConfigError: config error: metrics.port and retrain.metrics_port are both 9110: ...
    """
    port = settings.metrics.port
    if not settings.metrics.enabled or port == 0 or port != settings.retrain.metrics_port:
        return
    variables = [
        v for k in (("metrics", "port"), ("retrain", "metrics_port")) if (v := env_source(environ, k))
    ]
    origin = f" (set by {', '.join(variables)})" if variables else ""
    raise ConfigError(
        f"config error: metrics.port and retrain.metrics_port are both {port}: the daemon and the retrainer "
        f"would both listen on {settings.metrics.host}:{port}; give each its own port (0: any free port)"
        + origin
    )
