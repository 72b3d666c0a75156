"""The streaming service: Kafka in, scores, alerts, DLQ, metrics. It imports :mod:`dhag`, never the other way.

Modules, one job each: ``config`` (settings; ``configdump``: as ``check-config`` prints them; ``hostchecks``:
what it finds of them on this host; ``configlines``: where the file wrote them), ``records`` (the record
contract), ``alerts`` (hysteresis; ``trackers``: per partition), ``metrics`` (Prometheus), ``drift`` (ADWIN on
scores), ``registry`` (model folder), ``modelcmd`` (the ``models`` command), ``hotswap`` (model swaps between
batches), ``broker`` (embedded Tansu), ``topics`` (topic provisioning), ``processing`` (one batch), ``daemon``
(the Kafka loop), ``cli`` (the command; ``entry``: the script's first import); ``simulator`` (the simulated
plant), ``features`` (derived plant features), ``plantmodel`` (training for the plant), ``historyfile`` (the
history it trains on; ``historyplaces``: where its rows are), ``scoreboard`` (alerts against ground truth),
``demo`` (``make run``), ``plantbench``."""

__all__ = ["BrokerUnavailableError", "ConfigError", "ModelUnavailableError", "PipelineError"]


def __getattr__(name: str) -> type[Exception]:
    # The errors from pipeline.errors on first use: `dhag-pipeline` imports this package before its
    # entry can catch a Ctrl-C, so it imports nothing of its own here (pipeline.entry).
    if name in __all__:
        from pipeline import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
