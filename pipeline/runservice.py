"""``dhag-pipeline run``: the scoring daemon, with its embedded broker (if any) and metrics, stopped in
order on a signal; its exit codes are those of :mod:`pipeline.cli`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pipeline.errors import EXIT_BROKER, BrokerUnavailableError, ConfigError, ModelUnavailableError
from pipeline.signals import install_signals
from pipeline.startup import STOPPED_BEFORE, stoppable_at_startup

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = ["EXIT_CONFIG", "EXIT_MODEL", "run_service"]

# Nothing heavier at the top: pipeline.cli imports this module before main() takes signals as stops.

log = logging.getLogger("pipeline")

EXIT_CONFIG = 2
EXIT_MODEL = 4


def run_service(settings: Settings) -> int:
    """Start the broker (if embedded), metrics and the daemon; stop them in order on a signal."""
    return stoppable_at_startup(lambda: _run_service(settings), STOPPED_BEFORE["run"])


def _run_service(settings: Settings) -> int:
    from prometheus_client import CollectorRegistry

    from dhag.exceptions import ParameterError
    from pipeline.broker import EmbeddedBroker, export_broker_memory
    from pipeline.configsecurity import set_at
    from pipeline.cpuquota import limit_torch_threads
    from pipeline.daemon import Daemon
    from pipeline.hotswap import ModelReloader
    from pipeline.metrics import PipelineMetrics, serve_configured
    from pipeline.probes import Probes, connecting
    from pipeline.processing import BatchProcessor
    from pipeline.registry import load_current
    from pipeline.topics import provision_topics

    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, asset_limit=settings.metrics.asset_limit)
    if settings.model.torch_threads:
        import torch

        torch.set_num_threads(settings.model.torch_threads)
    else:
        limit_torch_threads("scoring")
    try:
        version, model = load_current(settings.model.registry, device=settings.model.device)
    except ModelUnavailableError as exc:
        metrics.model_reloads.labels("failed").inc()
        log.error("%s", exc)
        return EXIT_MODEL
    except ParameterError as exc:  # the device: "cuda" on a machine without CUDA
        log.error("config error: model.device: %s%s", exc, set_at(settings, "model.device"))
        return EXIT_CONFIG
    except (RuntimeError, MemoryError) as exc:  # the device (or the CPU's memory) would not take the model
        metrics.model_reloads.labels("failed").inc()
        device = settings.model.device
        where = set_at(settings, "model.device")
        log.error(
            "model.device %r%s could not take the model (the version is not at fault): %s", device, where, exc
        )
        return EXIT_MODEL
    metrics.model_reloads.labels("ok").inc()
    processor = BatchProcessor(settings, model, version, metrics)
    spec = processor.derived  # a plant model: records carry its raw sensors, it scores features of them
    sensors = len(spec.inputs) if spec is not None else len(model.feature_names_in_)
    derived = f", {len(model.feature_names_in_)} features derived from them" if spec is not None else ""
    log.info("model %s loaded (%d sensors%s, threshold %.4f)", version, sensors, derived, model.threshold_)

    server, probes = None, Probes()
    broker = EmbeddedBroker() if settings.kafka.embedded else None
    if broker is not None:
        export_broker_memory(broker, registry)
    try:
        if settings.metrics.enabled:
            if (served := serve_configured(registry, settings, probes, "metrics.port", log)) is None:
                return EXIT_CONFIG
            server, port = served
            log.info("metrics on http://%s:%d/metrics", settings.metrics.host, port)
        bootstrap = (
            broker.start().bootstrap_servers if broker is not None else settings.kafka.bootstrap_servers
        )
        probes.attach(ready=connecting(bootstrap), live=probes.live)  # "starting" said nothing of Kafka
        topics = settings.kafka.topics
        names = [topics.input, topics.alerts, topics.dlq_topic] + ([topics.scores] if topics.scores else [])
        wanted = dict.fromkeys(names, topics.partitions)
        provision_topics(
            settings.kafka, bootstrap, wanted, replication_factor=1 if broker is not None else -1
        )
        reloader = ModelReloader(settings.model, processor, metrics)
        daemon = Daemon(settings, processor, metrics, bootstrap_servers=bootstrap, reloader=reloader)
        probes.attach(ready=daemon.not_ready, live=daemon.not_live)
        install_signals(
            daemon.request_stop, settings.shutdown_grace_s, stopping="finishing the batch and shutting down"
        )
        return daemon.run()
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except BrokerUnavailableError as exc:
        log.error("%s", exc)
        return EXIT_BROKER
    finally:
        if server is not None:
            server.shutdown()
        if broker is not None:
            broker.stop()
