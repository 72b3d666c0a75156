"""Topic provisioning: what the daemon, the retrainer and ``simulate`` create, and what they say of a topic
that is already there with another partition count."""

from __future__ import annotations

import uuid

import pytest
from kafka import errors as Errors
from pipeline_kafka import partition_counts

from pipeline import topics
from pipeline.cli import main
from pipeline.config import KafkaSettings
from pipeline.errors import ConfigError
from pipeline.topics import ensure_topics


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The service's own warnings: kafka-python's (a slow task on a loaded machine) are not the topic's."""
    ours = [r for r in caplog.records if r.name.startswith("pipeline")]
    return [r.getMessage() for r in ours if r.levelname == "WARNING"]


def test_missing_topics_are_created_with_the_partitions_asked_for(tansu) -> None:
    names = [f"made-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    wanted = {names[0]: 3, names[1]: 2}
    assert sorted(
        ensure_topics(tansu.bootstrap_servers, wanted, create_missing=True, replication_factor=1)
    ) == (sorted(names))
    assert partition_counts(tansu.bootstrap_servers, names) == wanted
    assert ensure_topics(tansu.bootstrap_servers, wanted, create_missing=True, replication_factor=1) == []


def test_a_topic_there_with_another_partition_count_is_kept_and_named_with_both_counts(tansu, caplog) -> None:
    # It was kept without a word: a topic auto-created by the broker before the daemon started (4
    # partitions on Tansu) silently replaced kafka.topics.partitions.
    name = f"other-{uuid.uuid4().hex[:8]}"
    ensure_topics(tansu.bootstrap_servers, {name: 2}, create_missing=True, replication_factor=1)
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.broker"):
        assert (
            ensure_topics(tansu.bootstrap_servers, {name: 3}, create_missing=True, replication_factor=1) == []
        )
    said = _warned(caplog)
    assert len(said) == 1, said
    assert name in said[0] and "has 2 partitions where 3 were asked for" in said[0]
    assert partition_counts(tansu.bootstrap_servers, [name]) == {name: 2}  # kept as it is
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.broker"):
        ensure_topics(tansu.bootstrap_servers, {name: 2}, create_missing=True, replication_factor=1)
    assert not _warned(caplog)


def test_missing_topics_not_to_be_created_are_named(tansu) -> None:
    name = f"absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigError, match=name):
        ensure_topics(tansu.bootstrap_servers, {name: 3}, create_missing=False)
    assert partition_counts(tansu.bootstrap_servers, [name]) == {}


class _Admin:
    """A KafkaAdminClient with the answers a test gives it."""

    listed: list[dict] = []
    refuse: dict[str, Exception] = {}
    made: list[str] = []
    configs: dict[str, dict[str, str]] = {}

    def __init__(self, **_options: object) -> None:
        if "connect" in self.refuse:
            raise self.refuse["connect"]

    def describe_topics(self) -> list[dict]:
        if "describe" in self.refuse:
            raise self.refuse["describe"]
        return self.listed

    def create_topics(self, new: list) -> None:
        if "create" in self.refuse:
            raise self.refuse["create"]
        self.made += [t.name for t in new]
        self.configs.update({t.name: t.topic_configs for t in new})

    def close(self) -> None:
        pass


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> type[_Admin]:
    monkeypatch.setattr(_Admin, "listed", [])
    monkeypatch.setattr(_Admin, "refuse", {})
    monkeypatch.setattr(_Admin, "made", [])
    monkeypatch.setattr(_Admin, "configs", {})
    monkeypatch.setattr(topics, "KafkaAdminClient", _Admin)
    return _Admin


@pytest.mark.parametrize(
    ("step", "error", "permission"),
    [
        ("create", Errors.TopicAuthorizationFailedError(), "Create"),
        ("create", Errors.ClusterAuthorizationFailedError(), "Create"),
        ("describe", Errors.TopicAuthorizationFailedError(), "Describe"),
    ],
)
def test_a_refused_permission_stops_start_up_at_once_as_a_config_error(
    admin, monkeypatch, step, error, permission
) -> None:
    # It read as an unreachable broker: retried for kafka.unavailable_exit_s, then "broker unreachable".
    admin.refuse = {step: error}
    calls = []
    real = topics.ensure_topics
    monkeypatch.setattr(topics, "ensure_topics", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(topics.time, "sleep", lambda _s: pytest.fail("it retried"))
    with pytest.raises(ConfigError) as raised:
        topics.provision_topics(KafkaSettings(), "kafka:9092", {"sensors": 3, "alerts": 3})
    said = str(raised.value)
    assert permission in said and type(error).__name__ in said
    assert "sensors" in said and "alerts" in said
    assert calls == [1]


SASL_FAILED = Errors.SaslAuthenticationFailedError("SaslAuthenticationFailedError: invalid credentials")


@pytest.mark.parametrize("step", ["connect", "describe", "create"])
def test_a_failed_authentication_stops_start_up_at_once_as_a_config_error(admin, monkeypatch, step) -> None:
    # It read as an unreachable broker: retried for kafka.unavailable_exit_s, then "broker unreachable".
    admin.refuse = {step: SASL_FAILED}
    calls = []
    real = topics.ensure_topics
    monkeypatch.setattr(topics, "ensure_topics", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(topics.time, "sleep", lambda _s: pytest.fail("it retried"))
    kafka = KafkaSettings.model_validate(
        {
            "security": {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "monitor",
                "sasl_plain_password": "hunter2-secret",
            }
        }
    )
    with pytest.raises(ConfigError) as raised:
        topics.provision_topics(kafka, "kafka:9092", {"sensors": 3})
    said = str(raised.value)
    assert "SaslAuthenticationFailedError" in said and "kafka:9092" in said
    for key in ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
        assert f"kafka.security.{key}" in said
    assert "hunter2-secret" not in said
    assert calls == [1]


def test_a_failed_authentication_exits_2_from_simulate(admin, monkeypatch, capsys) -> None:
    admin.refuse = {"connect": SASL_FAILED}
    monkeypatch.setattr("pipeline.simulator.command.stream_fleet", lambda *a, **k: pytest.fail("it streamed"))
    assert main(["simulate", "--bootstrap", "kafka:9092", "--duration", "1"]) == 2
    assert "kafka.security.sasl_plain_password" in capsys.readouterr().err


def test_a_refused_permission_exits_2_from_simulate(admin, monkeypatch, capsys) -> None:
    admin.refuse = {"create": Errors.TopicAuthorizationFailedError()}
    monkeypatch.setattr("pipeline.simulator.command.stream_fleet", lambda *a, **k: pytest.fail("it streamed"))
    assert main(["simulate", "--bootstrap", "kafka:9092", "--duration", "1"]) == 2
    assert "Create" in capsys.readouterr().err


def test_a_topic_listed_with_an_error_and_no_partitions_draws_no_count_warning(admin, caplog) -> None:
    # A topic another process just created may be listed without a leader, and without its partitions:
    # that read as "has 0 partitions where 3 were asked for".
    admin.listed = [
        {"name": "sensors", "error_code": 5, "partitions": []},  # LEADER_NOT_AVAILABLE
        {"name": "alerts", "error_code": 0, "partitions": []},
        {"name": "labels", "error_code": 0, "partitions": [{"partition": 0}]},
    ]
    with caplog.at_level("WARNING", logger="pipeline.broker"):
        made = ensure_topics("kafka:9092", {"sensors": 3, "alerts": 3, "labels": 3}, create_missing=True)
    assert made == [] and admin.made == []  # they exist: none is created again
    said = _warned(caplog)
    assert len(said) == 1 and "labels has 1 partitions where 3 were asked for" in said[0], said


def test_simulate_without_creation_names_its_truth_topic_among_missing(admin, monkeypatch, capsys) -> None:
    admin.listed = [{"name": "sensor-readings", "error_code": 0, "partitions": [{"partition": 0}]}]
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__TOPICS__CREATE_MISSING", "false")
    monkeypatch.setattr("pipeline.simulator.command.stream_fleet", lambda *a, **k: pytest.fail("it streamed"))
    argv = ["simulate", "--bootstrap", "kafka:9092", "--topic", "sensor-readings", "--duration", "1"]
    assert main(argv) == 2
    assert "['sensor-truth'] do not exist" in capsys.readouterr().err
    assert admin.made == []


def test_the_labels_topic_is_created_to_keep_the_brokers_time_and_no_other_topic_is(admin) -> None:
    # The retrainer bounds a label's given time below by its record time; a topic keeping the time each
    # producer put on its records gave a console whose clock is behind the last word on that bound.
    settings = KafkaSettings()
    names = {settings.topics.input: 3, settings.topics.alerts: 3, settings.topics.labels: 3}
    topics.provision_topics(settings, "kafka:9092", names)
    assert sorted(admin.made) == sorted(names)
    assert admin.configs[settings.topics.labels] == {"message.timestamp.type": "LogAppendTime"}
    assert admin.configs[settings.topics.input] == admin.configs[settings.topics.alerts] == {}


@pytest.mark.integration
def test_the_embedded_broker_takes_the_labels_topics_settings(tansu) -> None:
    name = f"labels-{uuid.uuid4().hex[:8]}"
    created = ensure_topics(
        tansu.bootstrap_servers,
        {name: 2},
        create_missing=True,
        replication_factor=1,
        configs={name: topics.LABELS_TOPIC_CONFIGS},
    )
    assert created == [name]
    assert partition_counts(tansu.bootstrap_servers, [name]) == {name: 2}
