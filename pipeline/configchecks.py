"""What :func:`pipeline.config.load_settings` settles once the settings are valid one by one: the rules
between keys (:data:`CROSS_CHECKS`: a heartbeat below the session timeout, distinct topics, no two
listeners on one port, a retraining schedule no shorter than the gap between runs, no more normal rows
asked of a run than its samples hold, ...). (That every path is absolute is settled by
:mod:`pipeline.configpaths`.)

A rule between keys is judged whenever the keys it reads are valid, also when other keys are not, so
that one run of ``check-config`` names every problem; one whose key is invalid, or whose key's section
holds an unknown (likely misspelt) key, is not judged (a default would stand in for what the operator
wrote).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.configlines import file_lines
from pipeline.configpaths import PATH_KEYS, absolute_paths, label_store_path  # also exported here
from pipeline.configsecurity import LOGIN_KEYS, SECRET_KEYS, line_break_check
from pipeline.configsource import env_source
from pipeline.configvalues import MAX_TOPIC_NAME, shown

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = [
    "CROSS_CHECKS",
    "PATH_KEYS",
    "PORTS",
    "CrossCheck",
    "absolute_paths",
    "cross_key_problems",
    "label_store_path",
    "where_set",
]


@dataclass(frozen=True)
class CrossCheck:
    """A rule between settings: ``problem(settings)`` says what is wrong, or None; ``keys`` are the
    dotted keys it reads (a section's name covers every key in it); ``about(settings)``, for a rule
    reading a whole section, the dotted keys a problem it found is about, whose places an error names
    (default: ``keys``)."""

    keys: tuple[str, ...]
    problem: Callable[[Settings], str | None]
    about: Callable[[Settings], Iterable[str]] | None = None

    def places(self, settings: Settings) -> list[tuple[str, ...]]:
        """The keys whose places (a line of the file, a variable) an error of this rule names."""
        named = self.keys if self.about is None else self.about(settings)
        return [tuple(key.split(".")) for key in named]


def _ordered(low: str, high: str, *, strict: bool, why: str = "") -> CrossCheck:
    """``low`` below ``high`` (``strict``) or at most it."""

    def problem(settings: Settings) -> str | None:
        a, b = _get(settings, tuple(low.split("."))), _get(settings, tuple(high.split(".")))
        if a < b or (not strict and a == b):
            return None
        return f"{low} ({a}) must be {'below' if strict else '<='} {high} ({b}){why}"

    return CrossCheck((low, high), problem)


def _fetch_wait(settings: Settings) -> str | None:
    """The broker holds a fetch ``kafka.fetch_max_wait_ms`` when no records come, and its answer must
    still come within the request timeout: one that does not closes the consumer's connection, with
    every request on it (heartbeats, commits, the group join)."""
    wait, request = settings.kafka.fetch_max_wait_ms, settings.kafka.request_timeout_ms
    if 2 * wait <= request:
        return None
    return (
        f"kafka.fetch_max_wait_ms ({wait}) must be at most half of kafka.request_timeout_ms ({request}): "
        "the broker holds a fetch that long when no records come, and a fetch not answered within the "
        "request timeout closes the consumer's connection"
    )


def _poll_within_grace(settings: Settings) -> str | None:
    """A stop is taken between polls: an idle daemon (or retrainer) waits out the poll under way, and
    must still finish, flush and commit before ``shutdown_grace_s`` forces its exit."""
    poll, grace = settings.kafka.poll_timeout_ms, settings.shutdown_grace_s
    if poll <= grace * 1000 / 2:
        return None
    return (
        f"kafka.poll_timeout_ms ({poll}) must be at most half of shutdown_grace_s ({grace} s): a stop "
        "waits for the poll under way, and with no records coming that takes all of it, leaving too "
        "little of the grace to commit before the exit is forced"
    )


def _sasl_named(settings: Settings) -> str | None:
    security = settings.kafka.security
    if security.security_protocol.startswith("SASL") and security.sasl_mechanism is None:
        return f"kafka.security.sasl_mechanism must be set for {security.security_protocol}"
    return None


def _sasl_login(settings: Settings) -> str | None:
    """PLAIN and SCRAM log in with a user name and a password; kafka-python joins whatever it was given,
    None too, into the login: a TypeError in every connection, reported as a broker out of reach. An
    empty one (a variable set from a secret that was not there) is no login either: the broker refuses
    it, found only once the service reaches it."""
    security = settings.kafka.security
    if not security.sends_login:
        return None
    texts = {key: security.login_text(key) for key in LOGIN_KEYS}
    unset = [f"kafka.security.{key}" for key in LOGIN_KEYS if texts[key] is None]
    empty = [f"kafka.security.{key}" for key in LOGIN_KEYS if texts[key] == ""]
    if not unset and not empty:
        return None
    said = [
        f"{' and '.join(named)} {'is' if len(named) == 1 else 'are'} {what}"
        for named, what in ((unset, "not set"), (empty, "empty"))
        if named
    ]
    return (
        f"kafka.security.sasl_mechanism {security.sasl_mechanism} logs in with kafka.security."
        f"sasl_plain_username and sasl_plain_password, but {' and '.join(said)}"
    )


_LOGIN_RULE_KEYS = tuple(
    f"kafka.security.{key}" for key in ("security_protocol", "sasl_mechanism", *LOGIN_KEYS)
)


def _topic_keys(settings: Settings) -> dict[str, str]:
    """Each topic the services use, by the key that names it (the dead-letter topic's says so when it
    is named from the input topic)."""
    t = settings.kafka.topics
    dlq = "kafka.topics.dlq" + (" (null: kafka.topics.input + '.dlq')" if t.dlq is None else "")
    keys = {"kafka.topics.input": t.input, "kafka.topics.alerts": t.alerts, dlq: t.dlq_topic}
    keys |= {"kafka.topics.scores": t.scores} if t.scores else {}
    return keys | {"kafka.topics.labels": t.labels, "kafka.topics.labels_dlq": t.labels_dlq}


def _set_by(key: str) -> list[str]:
    """The keys that set the topic :func:`_topic_keys` names by ``key``: the dead-letter topic named
    from the input topic is set by both."""
    return ["kafka.topics.dlq", "kafka.topics.input"] if key.startswith("kafka.topics.dlq ") else [key]


def _same_topics(settings: Settings) -> dict[str, list[str]]:
    """The topics named more than once, each with the keys (:func:`_topic_keys`) that name it."""
    by_name: dict[str, list[str]] = {}
    for key, name in _topic_keys(settings).items():
        by_name.setdefault(name, []).append(key)
    return {name: named for name, named in by_name.items() if len(named) > 1}


def _distinct_topics(settings: Settings) -> str | None:
    clashes = [
        f"{', '.join(named[:-1])} and {named[-1]} are both {shown(name)}"
        for name, named in _same_topics(settings).items()
    ]
    return f"{'; '.join(clashes)}: each topic needs its own name" if clashes else None


def _same_topics_keys(settings: Settings) -> list[str]:
    return [one for named in _same_topics(settings).values() for key in named for one in _set_by(key)]


def _topics_apart(settings: Settings) -> str | None:
    """Kafka refuses to create a topic whose name differs from an existing one's only in ``.`` against
    ``_`` (both become ``_`` in its metric names); two names that are one are :func:`_distinct_topics`'."""
    names = _topic_keys(settings)
    clashes = [
        f"{one} ({shown(names[one])}) and {other} ({shown(names[other])})"
        for one, other in _apart_pairs(settings)
    ]
    if not clashes:
        return None
    return f"{'; '.join(clashes)} differ only in '.' against '_', which Kafka takes for one name: rename one"


def _apart_pairs(settings: Settings) -> list[tuple[str, str]]:
    """The keys (:func:`_topic_keys`) of each two topics whose names differ only in ``.`` against ``_``."""
    seen: dict[str, tuple[str, str]] = {}
    pairs = []
    for key, name in _topic_keys(settings).items():
        other = seen.setdefault(name.replace(".", "_"), (key, name))
        if other[1] != name:
            pairs.append((other[0], key))
    return pairs


def _apart_keys(settings: Settings) -> list[str]:
    return [one for pair in _apart_pairs(settings) for key in pair for one in _set_by(key)]


def _dlq_name_fits(settings: Settings) -> str | None:
    """The dead-letter topic named from the input topic (``kafka.topics.dlq`` null) is four characters
    longer than it: a valid input name can make one Kafka refuses to create."""
    topics = settings.kafka.topics
    if topics.dlq is not None or len(topics.dlq_topic) <= MAX_TOPIC_NAME:
        return None
    return (
        f"kafka.topics.dlq (null: kafka.topics.input + '.dlq') would be {len(topics.dlq_topic)} characters "
        f"long, and a Kafka topic name has at most {MAX_TOPIC_NAME}: set kafka.topics.dlq, or shorten "
        "kafka.topics.input"
    )


def _own_groups(settings: Settings) -> str | None:
    if settings.retrain.group_id != settings.kafka.group_id:
        return None
    return (
        f"retrain.group_id and kafka.group_id must differ (both {shown(settings.kafka.group_id)}): the "
        "retrainer would commit offsets of the daemon's consumer group"
    )


def _schedule(settings: Settings) -> str | None:
    """A scheduled run is due every ``retrain.interval_s``, but no run starts within
    ``retrain.min_interval_s`` of the last: a shorter schedule would run at the longer gap, not as
    written. 0 turns the schedule off."""
    every, apart = settings.retrain.interval_s, settings.retrain.min_interval_s
    if not every or every >= apart:
        return None
    return (
        f"retrain.interval_s ({every}) must be at least retrain.min_interval_s ({apart}): no run starts "
        "sooner than that after the last, so the schedule would run less often than written (0: off)"
    )


def _normal_rows_held(settings: Settings) -> str | None:
    """A run trains on the normal sample (at most twice ``retrain.normal_sample_size``: one reading per
    asset is kept beyond it, :mod:`pipeline.normalsample`) and the reference sample (at most
    ``retrain.reference_sample_size``), rejected alerts' copies aside, which a run may not have: a larger
    minimum ends every run for too few rows."""
    retrain = settings.retrain
    most = 2 * retrain.normal_sample_size + retrain.reference_sample_size
    if retrain.min_normal_rows <= most:
        return None
    return (
        f"retrain.min_normal_rows ({retrain.min_normal_rows}) is more than the {most} normal readings a "
        f"retrain run can ever train on: twice retrain.normal_sample_size ({retrain.normal_sample_size}; "
        "twice only with more assets than half of it) plus retrain.reference_sample_size "
        f"({retrain.reference_sample_size}); every run would end for too few normal rows: lower the first "
        "or raise the others"
    )


def _ports(settings: Settings) -> str | None:
    """The daemon's and the retrainer's metrics ports must not be one non-zero port: both listen on
    ``metrics.host``, and one config serves both processes (the Kubernetes ConfigMap, the compose file's
    and ``make run``'s config.yaml), so on one host the second to start could not bind, maybe days
    after the first. Port 0 (a free port each) never collides; with ``metrics.enabled: false`` neither
    listens.

    >>> from pipeline.config import Settings
    >>> _ports(Settings.model_validate({"metrics": {"port": 9110}}))  # doctest: +ELLIPSIS
    'metrics.port and retrain.metrics_port are both 9110: ...'
    """
    port = settings.metrics.port
    if not settings.metrics.enabled or port == 0 or port != settings.retrain.metrics_port:
        return None
    return (
        f"metrics.port and retrain.metrics_port are both {port}: the daemon and the retrainer "
        f"would both listen on {settings.metrics.host}:{port}; give each its own port (0: any free port)"
    )


# Checked by every validation of the settings (pydantic, ``Settings.model_validate``).
CROSS_CHECKS: tuple[CrossCheck, ...] = (
    _ordered("kafka.heartbeat_interval_ms", "kafka.session_timeout_ms", strict=True),
    CrossCheck(("kafka.fetch_max_wait_ms", "kafka.request_timeout_ms"), _fetch_wait),
    _ordered("kafka.backoff_initial_s", "kafka.backoff_max_s", strict=False),
    CrossCheck(("kafka.poll_timeout_ms", "shutdown_grace_s"), _poll_within_grace),
    CrossCheck(("kafka.security.security_protocol", "kafka.security.sasl_mechanism"), _sasl_named),
    CrossCheck(("kafka.security",), _sasl_login, lambda settings: _LOGIN_RULE_KEYS),
    *(CrossCheck((f"kafka.security.{key}",), line_break_check(key)) for key in SECRET_KEYS),
    CrossCheck(("kafka.topics",), _distinct_topics, _same_topics_keys),
    CrossCheck(("kafka.topics",), _topics_apart, _apart_keys),
    CrossCheck(
        ("kafka.topics",), _dlq_name_fits, lambda settings: ("kafka.topics.dlq", "kafka.topics.input")
    ),
    _ordered("alerts.open_after", "alerts.window", strict=False),
    _ordered(
        "dlq.min_records",
        "dlq.window",
        strict=False,
        why=": the window never holds more records than that, so the cap could never trip",
    ),
    CrossCheck(("kafka.group_id", "retrain.group_id"), _own_groups),
    CrossCheck(("retrain.interval_s", "retrain.min_interval_s"), _schedule),
    CrossCheck(
        ("retrain.min_normal_rows", "retrain.normal_sample_size", "retrain.reference_sample_size"),
        _normal_rows_held,
    ),
)
# Checked by load_settings only: a config file serves both processes, a test's settings one of them.
PORTS = CrossCheck(("metrics.enabled", "metrics.host", "metrics.port", "retrain.metrics_port"), _ports)


def cross_key_problems(
    settings: Settings,
    environ: Mapping[str, str],
    invalid: Iterable[tuple[str, ...]] = (),
    path: str | Path | None = None,
) -> list[str]:
    """One ``config error`` line for each rule of :data:`CROSS_CHECKS` and :data:`PORTS` that
    ``settings`` breaks, naming the environment variables that set its keys and the lines of the config
    file at ``path`` that wrote the others; rules reading a key of ``invalid`` (keys, or sections, whose
    value was refused and stands at its default in ``settings``) are not judged.

    >>> from pipeline.config import Settings
    >>> same = Settings.model_validate({"metrics": {"port": 9110}})
    >>> cross_key_problems(same, {"DHAG_PIPELINE_METRICS__PORT": "9110"})  # doctest: +ELLIPSIS
    ['config error: metrics.port and retrain.metrics_port are both 9110: ...DHAG_PIPELINE_METRICS__PORT)']
    >>> cross_key_problems(same, {}, invalid=[("metrics",)])
    []
    """
    invalid, lines = list(invalid), None
    problems = []
    for check in (*CROSS_CHECKS, PORTS):
        keys = [tuple(key.split(".")) for key in check.keys]
        if any(key[: len(bad)] == bad[: len(key)] for key in keys for bad in invalid):
            continue
        if (problem := check.problem(settings)) is None:
            continue
        lines = file_lines(path) if lines is None else lines  # read again only for a problem
        problems.append(f"config error: {problem}{where_set(check.places(settings), environ, path, lines)}")
    return problems


def where_set(
    keys: Iterable[tuple[str, ...]],
    environ: Mapping[str, str],
    path: str | Path | None,
    lines: Mapping[tuple[str, ...], int],
) -> str:
    """`` (set by VARIABLE; lines N and M of 'FILE')``: the environment variables that set ``keys`` and
    the lines of the config file at ``path`` (``lines``: :func:`~pipeline.configlines.file_lines`)
    that wrote the others; empty when neither did (all at their defaults).

    >>> where_set([("kafka", "batch_size")], {}, "c.yaml", {("kafka", "batch_size"): 2})
    " (line 2 of 'c.yaml')"
    """
    keys = list(keys)
    variables = sorted({name for key in keys if (v := env_source(environ, key)) for name in v.split(", ")})
    said = [f"set by {', '.join(variables)}"] if variables else []
    written = [str(n) for n in sorted({lines[k] for k in keys if k in lines and not env_source(environ, k)})]
    if written:
        numbers = f"s {', '.join(written[:-1])} and {written[-1]}" if len(written) > 1 else f" {written[0]}"
        said.append(f"line{numbers} of {str(path)!r}")
    return f" ({'; '.join(said)})" if said else ""


def placed_problems(
    problems: Iterable[str], environ: Mapping[str, str] | None, path: str | Path | None
) -> list[str]:
    """Each of ``problems`` (``config error: KEY: ...``) followed by where its key was set
    (:func:`where_set`: a variable of ``environ``, a line of the config file at ``path``)."""
    lines = file_lines(path)
    said = []
    for line in problems:
        key = tuple(line.removeprefix("config error: ").split(":")[0].split("."))
        said.append(line + where_set([key], environ or {}, path, lines))
    return said


def _get(node: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        node = node.get(part) if isinstance(node, Mapping) else getattr(node, part, None)
    return node
