"""The one settings object of the service: ``config.yaml`` plus environment overrides, validated once.

Environment overrides use the prefix ``DHAG_PIPELINE_`` and ``__`` between nesting levels, for example
``DHAG_PIPELINE_KAFKA__BATCH_SIZE=500`` or ``DHAG_PIPELINE_METRICS__PORT=0``. A value is read as a YAML
scalar (``500`` is a number, ``true`` a boolean, ``null`` nothing), but a text setting's as written,
without the quotes an env file's ``KEY="value"`` wraps it in (:func:`~pipeline.configsource.env_overrides`).
Every section is a frozen pydantic model that forbids unknown keys, so a typo stops start-up instead of
being ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from pipeline.configchecks import CROSS_CHECKS, cross_key_problems
from pipeline.configerrors import describe_error
from pipeline.configlines import file_lines, written_at
from pipeline.configpaths import absolute_paths
from pipeline.configretrain import RetrainSettings
from pipeline.configsecurity import SecuritySettings, read_from
from pipeline.configsource import (
    ENV_PREFIX,
    child_environment,
    env_overrides,
    env_source,
    merge_overrides,
    read_config_file,
    text_setting,
)
from pipeline.configvalues import (
    EMBEDDED,
    RETRAINER_CLIENT,
    Device,
    GroupId,
    Name,
    Section,
    any_case,
    check_asset_pattern,
    check_host,
    check_kafka_text,
    check_one_text,
    check_path,
    check_servers,
    check_topic_name,
)
from pipeline.driftbuckets import check_bucket_s
from pipeline.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "AlertSettings",
    "DlqSettings",
    "DriftSettings",
    "KafkaSettings",
    "LoggingSettings",
    "MetricsSettings",
    "ModelSettings",
    "RecordSettings",
    "RetrainSettings",
    "SecuritySettings",
    "Settings",
    "TopicSettings",
    "child_environment",
    "load_settings",
]


# Kafka's requests carry sizes and timeouts as 32-bit integers: kafka-python cannot encode a larger one.
_INT32_MAX = 2**31 - 1

TopicName = Annotated[str, AfterValidator(check_topic_name)]


class TopicSettings(Section):
    """Topic names; ``dlq`` defaults to ``<input>.dlq``; ``scores`` is off unless named."""

    input: TopicName = "sensor-readings"
    alerts: TopicName = "anomaly-alerts"
    dlq: TopicName | None = None
    scores: TopicName | None = None
    labels: TopicName = "operator-labels"
    labels_dlq: TopicName = "operator-labels.dlq"
    partitions: int = Field(3, ge=1, le=1000)
    create_missing: bool = True

    @property
    def dlq_topic(self) -> str:
        """The dead-letter topic actually used."""
        return self.dlq or f"{self.input}.dlq"


OffsetReset = Literal["earliest", "latest"]
MissingPolicy = Literal["reject", "impute"]


class KafkaSettings(Section):
    """Broker address (or ``embedded``), consumer group and consumer/producer tuning."""

    bootstrap_servers: Annotated[str, BeforeValidator(check_one_text), AfterValidator(check_servers)] = (
        EMBEDDED
    )
    client_id: Annotated[Name, AfterValidator(check_kafka_text(less=RETRAINER_CLIENT))] = "dhag-pipeline"
    group_id: GroupId = "dhag-pipeline"
    topics: TopicSettings = TopicSettings()
    security: SecuritySettings = SecuritySettings()
    batch_size: int = Field(5000, ge=1, le=1_000_000)
    poll_timeout_ms: int = Field(200, ge=1, le=60_000)
    # How long the broker may hold a fetch while it waits for new data: at low load, a floor on latency.
    fetch_max_wait_ms: int = Field(20, ge=0, le=10_000)
    fetch_max_bytes: int = Field(52_428_800, ge=1024, le=_INT32_MAX)
    max_partition_fetch_bytes: int = Field(10_485_760, ge=1024, le=_INT32_MAX)
    # kafka-python sets the group's rebalance timeout from this, and a join waits about that long.
    max_poll_interval_ms: int = Field(30_000, ge=1000, le=_INT32_MAX)
    session_timeout_ms: int = Field(10_000, ge=1000, le=_INT32_MAX)
    heartbeat_interval_ms: int = Field(3000, ge=100)
    auto_offset_reset: Annotated[OffsetReset, any_case(OffsetReset)] = "earliest"  # in any case
    # kafka-python's producer refuses a request timeout not below its delivery timeout (120 s) less linger.
    request_timeout_ms: int = Field(30_000, ge=1000, le=119_000)
    # How often every client refreshes topic metadata: partitions added are assigned within about this.
    metadata_max_age_ms: int = Field(30_000, ge=1000, le=3_600_000)
    # kafka-python takes it in whole milliseconds: below one, 0, and its clients reconnect without a pause.
    backoff_initial_s: float = Field(0.5, ge=0.001)
    # Waited on (Event.wait, time.sleep), which overflow far beyond these bounds.
    backoff_max_s: float = Field(10.0, gt=0, le=3600)
    unavailable_exit_s: float = Field(120.0, gt=0)

    @property
    def embedded(self) -> bool:
        """True when the service starts its own broker."""
        return self.bootstrap_servers == EMBEDDED


class ModelSettings(Section):
    """Where the model lives: ``registry/current`` names the version, ``registry/<version>.dhag``."""

    registry: Annotated[Name, AfterValidator(check_path)] = Field("models/registry", min_length=1)
    device: Device = "cpu"
    # The scoring MLP is small: one CPU thread scores a 5000-row batch in a few ms, and several threads
    # mostly fight each other (measured 10-20x slower on a busy 2-core machine). 0 = torch's default.
    torch_threads: int = Field(1, ge=0, le=256)
    # How often the daemon stats registry/current between batches to pick up a new version.
    reload_check_s: float = Field(2.0, gt=0, le=3600)


class RecordSettings(Section):
    """The record contract's tunable parts."""

    missing_policy: Annotated[MissingPolicy, any_case(MissingPolicy)] = "reject"
    max_record_bytes: int = Field(65_536, ge=64)
    asset_id_pattern: Annotated[str, AfterValidator(check_asset_pattern)] = (
        r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
    )
    # A record dated further ahead of the daemon's clock goes to the DLQ (bad_timestamp); null: no limit.
    max_future_s: float | None = Field(300.0, gt=0)
    # One dated further behind its Kafka record time is scored but counted as misdated; null: never.
    max_behind_s: float | None = Field(604_800.0, gt=0)
    # With impute: a record missing more than this fraction of the model's sensors goes to the DLQ.
    max_imputed_fraction: float = Field(0.5, ge=0, le=1)


def _at_least_once(factor: float) -> float:
    """``factor`` unless between 0 and 1 (``ValueError``): a run shorter than the longest a healthy
    sensor read is no sign of a stuck one."""
    if 0 < factor < 1:
        raise ValueError(
            f"{factor}: a sensor reads one value as long as the training history's longest run (factor 1) "
            "while healthy, so a smaller factor flags healthy sensors; allowed: 0 (never) or 1 and more"
        )
    return factor


class AlertSettings(Section):
    """Hysteresis: open after ``open_after`` of the last ``window`` scores are over the threshold;
    resolve after ``resolve_after`` consecutive normal scores once ``resolve_hold_s`` seconds of record
    time passed since the last one over (0: no hold), or ``quiet_s`` seconds without one over.
    ``carry_over_s``: how far back the alerts topic is read for open episodes (:mod:`pipeline.carryover`,
    :mod:`pipeline.handover`); null: never, a partition that comes without its state starts afresh.
    ``backfill_s``: how far before its opening reading a reading of the fault delivered late may move an
    episode's start (:class:`~pipeline.alerts.AlertTracker`). ``max_assets``: the most assets whose
    alert state a daemon holds (about 1 KB each; :mod:`pipeline.alertroom`). ``warmup_s``: how long
    after a plant model's asset stood still a reading that its cold bearing alone puts over the
    threshold is judged normal (:mod:`pipeline.warmup`; 0: never). ``warmup_after_silence_s``: an asset
    that sent no reading for longer than this, then reads running, is taken to have started (its
    warm-up begins), as one whose readings stop while it stands still does (0: never).
    ``frozen_sensor_factor``: a plant model's running reading is anomalous when one of its raw sensors
    has read one value this many times as many readings in a row, and as long, as it ever did while
    its machine ran in the training history (:mod:`pipeline.frozen`; 0: never)."""

    open_after: int = Field(3, ge=1)
    window: int = Field(5, ge=1, le=10_000)
    resolve_after: int = Field(10, ge=1)
    resolve_hold_s: float = Field(300.0, ge=0)
    quiet_s: float = Field(300.0, gt=0)
    top_sensors: int = Field(3, ge=1, le=100)
    carry_over_s: float | None = Field(7 * 86400.0, gt=0)
    backfill_s: float = Field(3600.0, ge=0)
    max_assets: int = Field(100_000, ge=1)
    warmup_s: float = Field(3600.0, ge=0)
    warmup_after_silence_s: float = Field(600.0, ge=0)
    frozen_sensor_factor: Annotated[float, AfterValidator(_at_least_once)] = Field(3.0, ge=0)


def _trips(ratio: float) -> float:
    """``ratio`` unless 1 or more (``ValueError``): the cap pauses when *more than* that share of the
    window went to the DLQ, and none is more than all of it."""
    if ratio >= 1:
        raise ValueError(
            f"{ratio}: the cap pauses when more than that share of dlq.window went to the DLQ, and none is "
            "more than all of it: the cap would never trip; allowed: above 0 and below 1 (0.99: pause "
            "when nearly every record goes there)"
        )
    return ratio


class DlqSettings(Section):
    """The DLQ ratio cap: pause when more than ``max_ratio`` of the last ``window`` records failed."""

    max_ratio: Annotated[float, AfterValidator(_trips)] = Field(0.5, gt=0)
    window: int = Field(1000, ge=1)
    min_records: int = Field(100, ge=1)
    resume_after_s: float | None = Field(None, gt=0)


class DriftSettings(Section):
    """River's ADWIN on the anomaly-score stream, one detector per model version, fed the median score
    of each ``bucket_s`` seconds of record time (0: every score, whose sensitivity grows with the rate)."""

    enabled: bool = True
    delta: float = Field(0.002, gt=0, lt=1)
    bucket_s: Annotated[float, AfterValidator(check_bucket_s)] = Field(300.0, ge=0)


class MetricsSettings(Section):
    """The Prometheus endpoint; ``port: 0`` picks a free port; ``enabled: false`` serves nothing. It has
    no login: by default only this host reaches it (``host: 0.0.0.0`` serves every address, as a
    container scraped from another one needs)."""

    enabled: bool = True
    # Never empty: the HTTP server would take "" for every address.
    host: Annotated[Name, AfterValidator(check_host)] = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)
    asset_limit: int = Field(200, ge=0)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["plain", "json"]
_LEVELS = {level: level for level in get_args(LogLevel)} | {"WARN": "WARNING"}  # Python's alias


def _log_level(level: object) -> object:
    """A log level in any case (``info``, as most tools write it; ``warn``) as Python's logging names
    it; any other value as given, for the error to quote as written."""
    return _LEVELS.get(level.upper(), level) if isinstance(level, str) else level


class LoggingSettings(Section):
    """Log level (in any case: ``info`` is ``INFO``; ``warn`` is ``WARNING``) and format (``plain`` text
    or one ``json`` object per line; in any case, ``JSON`` is ``json``)."""

    level: Annotated[LogLevel, BeforeValidator(_log_level)] = "INFO"
    format: Annotated[LogFormat, any_case(LogFormat)] = "plain"


class Settings(Section):
    """Everything the service reads; built once at start-up and passed down."""

    kafka: KafkaSettings = KafkaSettings()
    model: ModelSettings = ModelSettings()
    records: RecordSettings = RecordSettings()
    alerts: AlertSettings = AlertSettings()
    dlq: DlqSettings = DlqSettings()
    drift: DriftSettings = DriftSettings()
    metrics: MetricsSettings = MetricsSettings()
    retrain: RetrainSettings = RetrainSettings()
    logging: LoggingSettings = LoggingSettings()
    # Above kafka.request_timeout_ms (config.yaml); at most a day: a timer waits it, and overflows far beyond.
    shutdown_grace_s: float = Field(40.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _cross_keys(self, info: ValidationInfo) -> Settings:
        """The rules between keys (:data:`~pipeline.configchecks.CROSS_CHECKS`); :func:`load_settings`
        judges them itself, with the field errors."""
        if not (info.context or {}).get(_CROSS_KEYS_LATER):
            for check in CROSS_CHECKS:
                if (problem := check.problem(self)) is not None:
                    raise ValueError(problem)
        return self


_CROSS_KEYS_LATER = "cross_keys_later"


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (YAML; ``None`` = built-in defaults), apply overrides from ``environ``, validate;
    paths come back absolute, a relative one taken against the file's folder, or against the working
    directory when an override set it (:mod:`pipeline.configchecks`).

    Raises :class:`~pipeline.errors.ConfigError` whose message has one line per problem, each naming the
    key, the value and what is allowed; also for YAML aliases in the file or an override
    (:mod:`pipeline.safeyaml`) and for the daemon's and the retrainer's metrics on one port.

    Example
    -------
    >>> s = load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "500"})
    >>> s.kafka.batch_size, s.kafka.topics.dlq_topic
    (500, 'sensor-readings.dlq')
    >>> load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "0"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline.errors.ConfigError: config error: key 'kafka.batch_size' has value 0; allowed: greater than...
    """
    environ = environ or {}
    overrides = env_overrides(environ, text=lambda key: text_setting(Settings, key))
    data = merge_overrides(read_config_file(path) if path is not None else {}, overrides, environ, path)
    later = {_CROSS_KEYS_LATER: True}
    problems: list[str] = []
    invalid: list[tuple[str, ...]] = []
    try:
        settings = Settings.model_validate(data, context=later)
    except ValidationError as exc:
        lines = file_lines(path)
        problems = [
            describe_error(e, environ, Settings)
            + ("" if env_source(environ, tuple(map(str, e["loc"]))) else written_at(e["loc"], path, lines))
            for e in exc.errors()
        ]
        refused = [tuple(str(part) for part in e["loc"]) for e in exc.errors()]
        # An unknown key is most likely one of its section's misspelt, left at its default: no rule
        # reading that section is judged.
        invalid = [
            key[:-1] if e["type"] == "extra_forbidden" else key
            for key, e in zip(refused, exc.errors(), strict=True)
        ]
        try:  # the refused values at their defaults, to judge the rules between valid keys
            settings = Settings.model_validate(_without(data, refused), context=later)
        except ValidationError:
            raise ConfigError("\n".join(problems)) from None
    problems += cross_key_problems(settings, environ, invalid, path)
    if problems:
        raise ConfigError("\n".join(problems))
    return read_from(absolute_paths(settings, path, overrides), environ, path)


def _without(data: Any, keys: list[tuple[str, ...]]) -> Any:
    """``data`` (nested mappings) without each of ``keys``, or the deepest part of it that is there (an
    error's location can go on past the value into a type's name)."""
    if not isinstance(data, Mapping):
        return data
    pruned = copy.deepcopy(dict(data))
    for key in keys:
        parent, node, name = None, pruned, None
        for part in key:
            if not (isinstance(node, dict) and part in node):
                break
            parent, node, name = node, node[part], part
        if parent is not None:
            del parent[name]
    return pruned
