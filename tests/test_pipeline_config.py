"""Settings: the documented default file, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import Settings, load_settings
from pipeline.configpaths import absolute_paths
from pipeline.configsource import read_config_file
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_config_yaml_documents_exactly_the_built_in_defaults() -> None:
    assert Settings.model_validate(read_config_file(ROOT / "config.yaml")) == Settings()
    # Loaded, its relative paths (and so the defaults') are taken against its folder.
    settings = load_settings(ROOT / "config.yaml")
    assert settings == absolute_paths(Settings(), ROOT / "config.yaml", {})
    assert settings.model.registry == str(ROOT / "models" / "registry")


def test_environment_overrides_nest_with_double_underscores_and_parse_yaml_scalars() -> None:
    env = {
        "DHAG_PIPELINE_KAFKA__TOPICS__SCORES": "scores",
        "DHAG_PIPELINE_RECORDS__MISSING_POLICY": "impute",
        "DHAG_PIPELINE_DRIFT__ENABLED": "false",
        "DHAG_PIPELINE_DLQ__RESUME_AFTER_S": "2.5",
        "OTHER_VARIABLE": "ignored",
    }
    s = load_settings(ROOT / "config.yaml", env)
    assert (s.kafka.topics.scores, s.records.missing_policy, s.drift.enabled) == ("scores", "impute", False)
    assert s.dlq.resume_after_s == 2.5 and s.kafka.batch_size == 5000


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Settings().kafka.batch_size = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DHAG_PIPELINE_KAFKA__NOPE": "1"}, "unknown key 'kafka.nope'"),
        (
            {"DHAG_PIPELINE_METRICS__PORT": "70000"},
            "key 'metrics.port' has value 70000; allowed: less than or",
        ),
        (
            {"DHAG_PIPELINE_LOGGING__FORMAT": "xml"},
            "key 'logging.format' has value 'xml'; allowed: 'plain' or 'json'",
        ),
        ({"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "'10'"}, "key 'kafka.batch_size' has value '10'"),
        ({"DHAG_PIPELINE_ALERTS__OPEN_AFTER": "9"}, "alerts.open_after (9) must be <= alerts.window (5)"),
        # Cross-key rules at their boundary: one past it is refused, naming both keys.
        ({"DHAG_PIPELINE_ALERTS__OPEN_AFTER": "6"}, "alerts.open_after (6) must be <= alerts.window (5)"),
        (
            {"DHAG_PIPELINE_KAFKA__BACKOFF_INITIAL_S": "10.5"},
            "kafka.backoff_initial_s (10.5) must be <= kafka.backoff_max_s (10.0)",
        ),
        (
            {"DHAG_PIPELINE_KAFKA__HEARTBEAT_INTERVAL_MS": "10000"},
            "kafka.heartbeat_interval_ms (10000) must be below kafka.session_timeout_ms (10000)",
        ),
        ({"DHAG_PIPELINE_DLQ__MIN_RECORDS": "1001"}, "dlq.min_records (1001) must be <= dlq.window (1000)"),
        # Values that passed every bound and broke later: a timer, a cap that could never trip.
        ({"DHAG_PIPELINE_ALERTS__QUIET_S": ".inf"}, "key 'alerts.quiet_s' has value inf; allowed: a finite"),
        (
            {"DHAG_PIPELINE_ALERTS__RESOLVE_HOLD_S": "-1"},
            "key 'alerts.resolve_hold_s' has value -1; allowed: greater than or equal to 0",
        ),
        ({"DHAG_PIPELINE_ALERTS__RESOLVE_HOLD_S": ".inf"}, "key 'alerts.resolve_hold_s' has value inf"),
        ({"DHAG_PIPELINE_KAFKA__BACKOFF_MAX_S": ".inf"}, "key 'kafka.backoff_max_s' has value inf"),
        ({"DHAG_PIPELINE_SHUTDOWN_GRACE_S": ".inf"}, "key 'shutdown_grace_s' has value inf"),
        ({"DHAG_PIPELINE_DLQ__MIN_RECORDS": "5000"}, "dlq.min_records (5000) must be <= dlq.window (1000)"),
        # Names Kafka cannot use, a blank group, and the retrainer in the daemon's group.
        (
            {"DHAG_PIPELINE_KAFKA__TOPICS__INPUT": "sensor readings"},
            "kafka.topics.input: 'sensor readings' is not",
        ),
        ({"DHAG_PIPELINE_KAFKA__TOPICS__DLQ": ".."}, "kafka.topics.dlq: '..' is not a Kafka topic name"),
        ({"DHAG_PIPELINE_KAFKA__GROUP_ID": " "}, "kafka.group_id: ' ' must not be blank"),
        (
            {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "http://x:y,,"},
            "'http://x:y,,': 'http://x:y': drop 'http://'",
        ),
        (
            {"DHAG_PIPELINE_RETRAIN__GROUP_ID": "dhag-pipeline"},
            "retrain.group_id and kafka.group_id must differ",
        ),
        # Topics sharing a name: the keys are named (before: a list of names without the keys, the unset
        # scores left out of it).
        (
            {"DHAG_PIPELINE_KAFKA__TOPICS__ALERTS": "sensor-readings"},
            "kafka.topics.input and kafka.topics.alerts are both 'sensor-readings'",
        ),
        (
            {"DHAG_PIPELINE_KAFKA__TOPICS__LABELS": "sensor-readings.dlq"},
            "kafka.topics.dlq (null: kafka.topics.input + '.dlq') and kafka.topics.labels are both "
            "'sensor-readings.dlq'",
        ),
        # A stop waits for the poll under way: one longer than the grace forced every stop of an idle
        # daemon (exit 1). Before: accepted.
        (
            {"DHAG_PIPELINE_KAFKA__POLL_TIMEOUT_MS": "20001"},
            "kafka.poll_timeout_ms (20001) must be at most half of shutdown_grace_s (40.0 s)",
        ),
        (
            {"DHAG_PIPELINE_KAFKA__POLL_TIMEOUT_MS": "6000", "DHAG_PIPELINE_SHUTDOWN_GRACE_S": "10"},
            "kafka.poll_timeout_ms (6000) must be at most half of shutdown_grace_s (10.0 s)",
        ),
        # The input's dead-letter topic, named from it, longer than a topic name may be. Before:
        # accepted, and Kafka refused to create the topic at start-up.
        (
            {"DHAG_PIPELINE_KAFKA__TOPICS__INPUT": "r" * 247},
            "kafka.topics.dlq (null: kafka.topics.input + '.dlq') would be 251 characters long, and a "
            "Kafka topic name has at most 249: set kafka.topics.dlq, or shorten kafka.topics.input",
        ),
        # Names alike but for '.' and '_': Kafka refuses to create one beside the other (their metric
        # names would be one). Before: accepted, and the second could not be created at start-up.
        (
            {
                "DHAG_PIPELINE_KAFKA__TOPICS__INPUT": "plant.readings",
                "DHAG_PIPELINE_KAFKA__TOPICS__ALERTS": "plant_readings",
            },
            "kafka.topics.input ('plant.readings') and kafka.topics.alerts ('plant_readings') differ only in "
            "'.' against '_', which Kafka takes for one name: rename one",
        ),
    ],
)
def test_bad_settings_name_key_value_and_what_is_allowed(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env)
    assert message in str(info.value)


def test_cross_key_rules_accept_their_boundary() -> None:
    settings = load_settings(
        None,
        {
            "DHAG_PIPELINE_ALERTS__OPEN_AFTER": "5",
            "DHAG_PIPELINE_KAFKA__BACKOFF_INITIAL_S": "10.0",
            "DHAG_PIPELINE_KAFKA__HEARTBEAT_INTERVAL_MS": "9999",
            "DHAG_PIPELINE_DLQ__MIN_RECORDS": "1000",
            "DHAG_PIPELINE_KAFKA__POLL_TIMEOUT_MS": "20000",
        },
    )
    assert (settings.alerts.open_after, settings.kafka.backoff_initial_s, settings.dlq.min_records) == (
        5,
        10.0,
        1000,
    )


def test_a_bad_setting_from_the_environment_names_its_variable(tmp_path: Path) -> None:
    # "ALERTS__A__B" sets alerts.a.b, so the unknown key is "alerts.a": only the variable's name tells
    # the operator what to unset. A key from the file is not attributed to an unrelated variable.
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_ALERTS__A__B": "0", "DHAG_PIPELINE_KAFKA__BATCH_SIZE": "0"})
    lines = str(info.value).splitlines()
    assert sorted(lines) == [
        "config error: key 'kafka.batch_size' has value 0; allowed: greater than or equal to 1 "
        "(set by DHAG_PIPELINE_KAFKA__BATCH_SIZE)",
        "config error: unknown key 'alerts.a' (value {'b': 0}); remove it or fix its spelling "
        "(set by DHAG_PIPELINE_ALERTS__A__B)",
    ]
    config = tmp_path / "c.yaml"
    config.write_text("kafka: {batch_size: 0}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {"DHAG_PIPELINE_ALERTS__WINDOW": "5"})
    assert "set by" not in str(info.value)


def test_check_config_masks_secrets_and_returns_2_on_errors(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASSWORD", "hunter2")
    assert main(["check-config"]) == 0
    assert "hunter2" not in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text("kafka: [1, 2]\n")
    assert main(["check-config", "--config", "bad.yaml"]) == 2
    assert capsys.readouterr().err.startswith("config error: key 'kafka'")
    (tmp_path / "broken.yaml").write_text("kafka: {\n")
    assert main(["check-config", "--config", "broken.yaml"]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_addresses_kafka_accepts_are_accepted() -> None:
    for servers in ("kafka:9092", "10.0.0.5:9092,10.0.0.6:9093", "[::1]:9092", "embedded"):
        assert (
            load_settings(None, {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": servers}).kafka.bootstrap_servers
            == servers
        )


def test_a_key_given_twice_in_the_file_stops_start_up_naming_it(tmp_path: Path) -> None:
    # YAML keeps the last of two sections silently: here kafka.batch_size would fall back to 5000.
    path = tmp_path / "config.yaml"
    path.write_text("kafka:\n  batch_size: 5\nmetrics:\n  port: 0\nkafka:\n  group_id: g\n")
    with pytest.raises(
        ConfigError,
        match="not valid YAML at line 5, column 1: key kafka at line 5 was already given at line 1",
    ):
        load_settings(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"kafka:\n  batch_size: 5  # d\xe9bit\n", "is not UTF-8 text"),
        (b"? [a]\n: 1\n", "found unhashable key"),
    ],
)
def test_a_file_that_is_not_utf8_or_has_an_unhashable_key_stops_start_up_with_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path, {})
    assert str(path) in str(info.value)


def test_an_override_under_a_single_setting_of_the_file_is_refused_not_dropped(tmp_path: Path) -> None:
    # With the shipped config.yaml, which sets every key, a misspelt nested variable was dropped
    # without a word (without a file it was refused).
    path = tmp_path / "config.yaml"
    path.write_text("kafka:\n  batch_size: 5\n")
    environ = {"DHAG_PIPELINE_KAFKA__BATCH_SIZE__TYPO": "1"}
    with pytest.raises(
        ConfigError, match="'kafka.batch_size' is 5 in .* DHAG_PIPELINE_KAFKA__BATCH_SIZE__TYPO"
    ):
        load_settings(path, environ)
    repo = Path(__file__).resolve().parent.parent / "config.yaml"
    with pytest.raises(ConfigError, match="model.registry"):
        load_settings(repo, {"DHAG_PIPELINE_MODEL__REGISTRY__PATH": "/x"})


def test_an_optional_topic_from_the_environment_is_taken_as_written() -> None:
    settings = load_settings(None, {"DHAG_PIPELINE_KAFKA__TOPICS__SCORES": "2024"})
    assert settings.kafka.topics.scores == "2024"
    assert load_settings(None, {"DHAG_PIPELINE_KAFKA__TOPICS__SCORES": "null"}).kafka.topics.scores is None


def test_a_cuda_device_on_a_machine_without_cuda_stops_start_up_naming_the_key(
    registry: Path, caplog
) -> None:
    import torch

    from pipeline.runservice import EXIT_CONFIG, _run_service

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    settings = Settings.model_validate({"model": {"registry": str(registry), "device": "cuda:7"}})
    assert _run_service(settings) == EXIT_CONFIG  # before: a ParameterError traceback, exit 1
    assert "config error: model.device" in caplog.text and "CUDA is not available" in caplog.text


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        ({"request_timeout_ms": 120_000}, "kafka.request_timeout_ms"),
        (
            {"fetch_max_wait_ms": 5000, "request_timeout_ms": 2000},
            "fetch_max_wait_ms \\(5000\\) must be at most half",
        ),
        (
            {"fetch_max_wait_ms": 999, "request_timeout_ms": 1000},
            "fetch_max_wait_ms \\(999\\) must be at most half of kafka.request_timeout_ms \\(1000\\)",
        ),
    ],
)
def test_kafka_settings_the_clients_would_refuse_stop_start_up(kafka: dict, message: str) -> None:
    # Before, both passed check-config and then failed at run time as a broker outage: exit 3.
    with pytest.raises(ConfigError, match=message):
        load_settings(None, {f"DHAG_PIPELINE_KAFKA__{k.upper()}": str(v) for k, v in kafka.items()})


def test_an_override_under_an_empty_key_of_the_file_says_the_key_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("kafka:\n  security:\n")
    with pytest.raises(
        ConfigError, match="'kafka.security' is empty .* remove the empty key, or write it as a section"
    ):
        load_settings(path, {"DHAG_PIPELINE_KAFKA__SECURITY__PROTOCOL": "SSL"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "kafka-1:99999"}, "kafka.bootstrap_servers"),
        ({"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "kafka-1:0"}, "kafka.bootstrap_servers"),
        (
            {"DHAG_PIPELINE_KAFKA__SECURITY__SECURITY_PROTOCOL": "SASL_SSL"},
            "sasl_mechanism must be set for SASL_SSL",
        ),
    ],
)
def test_kafka_addresses_and_security_the_clients_cannot_use_stop_start_up(
    environ: dict, message: str
) -> None:
    # Before: accepted, then reported as Kafka unreachable until the daemon exited 3.
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ)


def test_a_blank_registry_path_stops_start_up() -> None:
    # Before, "  " was accepted and every daemon looked for its model in a folder named by spaces.
    with pytest.raises(ConfigError, match="model.registry"):
        load_settings(None, {"DHAG_PIPELINE_MODEL__REGISTRY": "  "})


@pytest.mark.parametrize(
    "key",
    [
        "max_poll_interval_ms",
        "session_timeout_ms",
        "fetch_max_bytes",
        "max_partition_fetch_bytes",
    ],
)
def test_kafka_settings_beyond_what_a_kafka_request_holds_stop_start_up(key: str) -> None:
    # Kafka's requests carry these as 32-bit integers. Before, 2**31 passed check-config, and kafka-python
    # failed to encode its group join or fetch: the daemon never joined and never said why.
    with pytest.raises(ConfigError) as info:
        load_settings(None, {f"DHAG_PIPELINE_KAFKA__{key.upper()}": str(2**31)})
    assert f"key 'kafka.{key}' has value 2147483648; allowed: less than or equal to 2147483647" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        # Before: accepted, and as no asset id matches it whole, every record went to the DLQ.
        ("", "config error: records.asset_id_pattern: '' matches no asset id"),
        ("(", "config error: records.asset_id_pattern: '(' is not a valid regular expression: missing )"),
    ],
)
def test_an_asset_id_pattern_that_takes_no_asset_stops_start_up(pattern: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_RECORDS__ASSET_ID_PATTERN": pattern})
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "key", ["KAFKA__SECURITY__SSL_CAFILE", "KAFKA__SECURITY__SSL_CERTFILE", "KAFKA__SECURITY__SSL_KEYFILE"]
)
def test_an_empty_tls_file_path_stops_start_up_naming_the_key(key: str) -> None:
    # Before: accepted by check-config, and `run` with TLS then said "cannot read '': Is a directory".
    dotted = key.lower().replace("__", ".")
    with pytest.raises(ConfigError) as info:
        load_settings(None, {f"DHAG_PIPELINE_{key}": ""})
    assert str(info.value).startswith(
        f"config error: {dotted}: '' is no path: give one, or null to leave it unset"
    )


@pytest.mark.parametrize("key", ["MODEL__DEVICE", "RETRAIN__DEVICE"])
@pytest.mark.parametrize("value", ["gpu", "cuda:", "CUDA"])
def test_an_unknown_device_is_refused_saying_the_devices_in_words(key: str, value: str) -> None:
    # Before: "allowed: String should match pattern '^(auto|cpu|cuda(:\d+)?)$'".
    dotted = key.lower().replace("__", ".")
    with pytest.raises(ConfigError) as info:
        load_settings(None, {f"DHAG_PIPELINE_{key}": value})
    assert str(info.value).startswith(
        f"config error: {dotted}: {value!r} is no device: auto, cpu, cuda or cuda:N (N: the GPU's index)"
    )


def test_two_variables_setting_one_key_stop_start_up_naming_both() -> None:
    # Variables differ by case, keys do not: before, whichever sorted last won, silently.
    environ = {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "500", "DHAG_PIPELINE_kafka__batch_size": "7"}
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    assert str(info.value) == (
        "config error: environment variables DHAG_PIPELINE_KAFKA__BATCH_SIZE and "
        "DHAG_PIPELINE_kafka__batch_size both set kafka.batch_size: unset one"
    )
