"""Settings that were accepted silently and went wrong later: two listeners on one port, relative paths
that followed the working directory (YAML that cannot be read safely: test_pipeline_config_yaml.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pipeline.cli import EXIT_CONFIG, EXIT_MODEL, main
from pipeline.config import load_settings
from pipeline.configdump import effective_config
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


# -- ports ------------------------------------------------------------------------------------------------
def test_the_daemon_and_the_retrainer_on_one_port_stop_start_up_naming_both_keys(tmp_path: Path) -> None:
    # Before: accepted; on one host, whichever of the two started second (maybe days later) could not
    # bind and exited naming only an address, not the settings at fault.
    config = tmp_path / "config.yaml"
    config.write_text("metrics: {port: 9110}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert "metrics.port and retrain.metrics_port are both 9110" in str(info.value)
    with pytest.raises(ConfigError, match="set by DHAG_PIPELINE_RETRAIN__METRICS_PORT"):
        load_settings(None, {"DHAG_PIPELINE_RETRAIN__METRICS_PORT": "9108"})


def test_cross_key_problems_are_reported_with_the_field_errors() -> None:
    # Before, a rule between keys was checked only once every key was valid (one of a section's, once
    # its section was): an operator fixed one line, ran check-config again, and met the next problem.
    with pytest.raises(ConfigError) as info:
        load_settings(
            None,
            {
                "DHAG_PIPELINE_KAFKA__BATCH_SIZE": "0",  # a field error ...
                "DHAG_PIPELINE_KAFKA__HEARTBEAT_INTERVAL_MS": "10000",  # ... beside a rule of its section
                "DHAG_PIPELINE_ALERTS__WINDOW": "x",  # a field error of another section
                "DHAG_PIPELINE_RETRAIN__GROUP_ID": "dhag-pipeline",  # rules across sections
                "DHAG_PIPELINE_METRICS__PORT": "9110",
            },
        )
    lines = str(info.value).splitlines()
    assert len(lines) == 5, lines
    for said in (
        "key 'kafka.batch_size' has value 0",
        "key 'alerts.window' has value 'x'",
        "kafka.heartbeat_interval_ms (10000) must be below kafka.session_timeout_ms (10000)",
        "retrain.group_id and kafka.group_id must differ",
        "metrics.port and retrain.metrics_port are both 9110",
    ):
        assert sum(said in line for line in lines) == 1, (said, lines)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        # Its default stands in for an invalid value: the rule would judge a value nobody wrote.
        (
            {
                "DHAG_PIPELINE_KAFKA__SESSION_TIMEOUT_MS": "'x'",
                "DHAG_PIPELINE_KAFKA__HEARTBEAT_INTERVAL_MS": "20000",
            },
            "kafka.session_timeout_ms",
        ),
        (
            {"DHAG_PIPELINE_METRICS__PORT": "'x'", "DHAG_PIPELINE_RETRAIN__METRICS_PORT": "9108"},
            "metrics.port",
        ),
        ({"DHAG_PIPELINE_KAFKA__GROUP_ID": " ", "DHAG_PIPELINE_RETRAIN__GROUP_ID": "dhag-pipeline"}, "blank"),
    ],
)
def test_a_rule_between_keys_one_of_which_is_invalid_is_not_judged(env: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env)
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and said in lines[0], lines


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        # A misspelt key leaves the one meant at its default: a rule beside it would judge that default.
        ("kafka:\n  sesion_timeout_ms: 60000\n  heartbeat_interval_ms: 20000\n", "kafka.sesion_timeout_ms"),
        ("alerts:\n  windw: 20\n  open_after: 10\n", "alerts.windw"),
        ("retrain:\n  group_idd: x\nkafka:\n  group_id: dhag-retrainer\n", "retrain.group_idd"),
        ("kafak:\n  session_timeout_ms: 60000\nkafka:\n  heartbeat_interval_ms: 20000\n", "kafak"),
    ],
)
def test_a_rule_beside_an_unknown_key_is_not_judged(tmp_path: Path, text: str, unknown: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and f"unknown key {unknown!r}" in lines[0], lines


def test_a_rule_in_another_section_than_an_unknown_key_is_still_judged(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("alerts:\n  windw: 20\nkafka:\n  heartbeat_interval_ms: 20000\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and "must be below kafka.session_timeout_ms" in lines[1], lines


def test_check_config_exits_2_on_equal_ports(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("retrain: {metrics_port: 9108}\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "metrics.port" in err and "retrain.metrics_port" in err


@pytest.mark.parametrize(
    "env",
    [
        {"DHAG_PIPELINE_METRICS__PORT": "0", "DHAG_PIPELINE_RETRAIN__METRICS_PORT": "0"},  # both ephemeral
        {"DHAG_PIPELINE_METRICS__ENABLED": "false", "DHAG_PIPELINE_METRICS__PORT": "9110"},  # nothing binds
        {"DHAG_PIPELINE_METRICS__PORT": "9109"},
    ],
)
def test_ports_that_cannot_collide_are_accepted(env: dict[str, str]) -> None:
    settings = load_settings(None, env)
    assert settings.metrics.port == int(env["DHAG_PIPELINE_METRICS__PORT"])


# -- relative paths ---------------------------------------------------------------------------------------
PATHS = """\
model: {registry: models/registry}
retrain: {label_store: state/labels.sqlite}
kafka:
  security: {ssl_cafile: tls/ca.pem, ssl_certfile: /etc/tls/cert.pem, ssl_keyfile: ../keys/key.pem}
"""


def test_relative_paths_in_a_file_are_resolved_against_its_folder(tmp_path: Path, monkeypatch) -> None:
    # Before: against the working directory, so the same file started elsewhere used another registry.
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text(PATHS)
    seen = []
    for cwd in (tmp_path, site, ROOT):
        monkeypatch.chdir(cwd)
        relative = os.path.relpath(site / "config.yaml", cwd)
        seen.append(load_settings(relative))
    assert seen[0] == seen[1] == seen[2]
    settings = seen[0]
    assert settings.model.registry == str(site / "models" / "registry")
    assert settings.retrain.label_store == str(site / "state" / "labels.sqlite")
    security = settings.kafka.security
    assert security.ssl_cafile == str(site / "tls" / "ca.pem")
    assert security.ssl_certfile == "/etc/tls/cert.pem"  # absolute: as written
    assert security.ssl_keyfile == str(tmp_path / "keys" / "key.pem")
    assert f"registry: {site / 'models' / 'registry'}" in effective_config(settings)


def test_check_config_prints_the_label_store_the_retrainer_opens(tmp_path: Path) -> None:
    # Before, an unset label store printed as null: where the retrainer keeps its labels was not shown.
    (tmp_path / "config.yaml").write_text("model: {registry: models}\n")
    shown = yaml.safe_load(effective_config(load_settings(tmp_path / "config.yaml", {})))
    assert shown["retrain"]["label_store"] == str(tmp_path / "models" / "labels.sqlite")
    (tmp_path / "config.yaml").write_text("retrain: {label_store: /srv/labels.sqlite}\n")
    shown = yaml.safe_load(effective_config(load_settings(tmp_path / "config.yaml", {})))
    assert shown["retrain"]["label_store"] == "/srv/labels.sqlite"


def test_what_check_config_prints_reads_back_as_the_same_settings(tmp_path: Path) -> None:
    # Before, a name YAML reads as text though it starts with a 0 (group id 09108, topic 0800) was
    # printed unquoted, and the printout, saved as a config, was refused for its leading 0.
    written = "kafka:\n  group_id: '09108'\n  client_id: '0777'\n  topics: {input: '0800'}\n"
    (tmp_path / "config.yaml").write_text(written)
    settings = load_settings(tmp_path / "config.yaml", {})
    (tmp_path / "printed.yaml").write_text(effective_config(settings))
    # The same topics: the dead-letter topic printed by the name its null default gives, 0800.dlq.
    topics = settings.kafka.topics.model_copy(update={"dlq": settings.kafka.topics.dlq_topic})
    assert load_settings(tmp_path / "printed.yaml", {}).kafka == settings.kafka.model_copy(
        update={"topics": topics}
    )
    assert settings.kafka.group_id == "09108" and settings.kafka.topics.input == "0800"


def test_a_default_path_follows_the_file_and_an_override_the_working_directory(
    tmp_path: Path, monkeypatch
) -> None:
    site, cwd = tmp_path / "site", tmp_path / "cwd"
    site.mkdir()
    cwd.mkdir()
    (site / "config.yaml").write_text("logging: {level: INFO}\n")
    monkeypatch.chdir(cwd)
    # An unset key is config.yaml's documented default, read as if written in the file.
    assert load_settings(site / "config.yaml").model.registry == str(site / "models" / "registry")
    # Without a file, and from the environment: against the working directory, as a shell would.
    assert load_settings(None).model.registry == str(cwd / "models" / "registry")
    env = {"DHAG_PIPELINE_MODEL__REGISTRY": "reg", "DHAG_PIPELINE_RETRAIN__LABEL_STORE": "l.sqlite"}
    settings = load_settings(site / "config.yaml", env)
    assert (settings.model.registry, settings.retrain.label_store) == (
        str(cwd / "reg"),
        str(cwd / "l.sqlite"),
    )
    home = load_settings(None, {"DHAG_PIPELINE_KAFKA__SECURITY__SSL_CAFILE": "~/ca.pem"})
    assert home.kafka.security.ssl_cafile == str(Path("~/ca.pem").expanduser())


def test_a_symlinked_config_takes_its_paths_against_the_links_folder(tmp_path: Path) -> None:
    # A Kubernetes ConfigMap volume: config.yaml -> ..data/config.yaml -> ..<timestamp>/config.yaml, the
    # timestamped folder replaced at every update of the ConfigMap. Against the target's folder, a
    # relative path would move with each update; against the link's, it stays where it was written.
    mount = tmp_path / "etc" / "dhag"
    (mount / "..2026_01_01_00_00_00.1").mkdir(parents=True)
    (mount / "..2026_01_01_00_00_00.1" / "config.yaml").write_text("retrain: {label_store: labels.sqlite}\n")
    (mount / "..data").symlink_to("..2026_01_01_00_00_00.1")
    (mount / "config.yaml").symlink_to("..data/config.yaml")
    settings = load_settings(mount / "config.yaml")
    assert settings.retrain.label_store == str(mount / "labels.sqlite")
    assert settings.model.registry == str(mount / "models" / "registry")


def test_a_removed_working_directory_matters_only_to_a_path_taken_against_it(
    tmp_path: Path, monkeypatch
) -> None:
    # Before: os.getcwd() was asked first, so every command (the health check too) ended in a
    # FileNotFoundError traceback when started in a folder removed since, whatever the paths were.
    site, gone = tmp_path / "site", tmp_path / "gone"
    site.mkdir()
    gone.mkdir()
    (site / "config.yaml").write_text(PATHS.split("kafka:")[0])
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert load_settings(site / "config.yaml").model.registry == str(site / "models" / "registry")
    env = {"DHAG_PIPELINE_RETRAIN__LABEL_STORE": "labels.sqlite"}
    with pytest.raises(ConfigError, match="retrain.label_store: .*'labels.sqlite'.*working directory"):
        load_settings(site / "config.yaml", env)


def test_the_retrainer_logs_the_paths_it_uses(tmp_path: Path, monkeypatch, capsys) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text(PATHS.split("kafka:")[0] + "kafka: {bootstrap_servers: 'k:9092'}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DHAG_PIPELINE_MODEL__REGISTRY", raising=False)
    assert main(["retrain", "--once", "--config", "site/config.yaml"]) == EXIT_MODEL  # no registry there
    err = capsys.readouterr().err
    assert f"model.registry {site / 'models' / 'registry'}" in err
    assert f"label store {site / 'state' / 'labels.sqlite'}" in err
    assert f"settings from {site / 'config.yaml'}" in err


# -- the retrainer's schedule -----------------------------------------------------------------------------
def test_a_schedule_more_often_than_runs_may_start_stops_start_up_naming_both_keys() -> None:
    # Before: interval_s 300 ("a run at least this often") under min_interval_s 600 ("runs at least
    # this far apart") was taken, and the schedule ran every 600 s, not the 300 s written.
    env = {"DHAG_PIPELINE_RETRAIN__INTERVAL_S": "300"}
    with pytest.raises(ConfigError) as raised:
        load_settings(None, env)
    message = str(raised.value)
    assert message.startswith(
        "config error: retrain.interval_s (300.0) must be at least retrain.min_interval_s (600.0)"
    ), message
    assert message.endswith("(set by DHAG_PIPELINE_RETRAIN__INTERVAL_S)"), message


@pytest.mark.parametrize("interval", ["0", "600", "86400"])
def test_a_schedule_off_or_no_more_often_than_runs_may_start_is_accepted(interval: str) -> None:
    settings = load_settings(None, {"DHAG_PIPELINE_RETRAIN__INTERVAL_S": interval})
    assert settings.retrain.interval_s == float(interval)


def test_a_seed_the_detector_refuses_stops_start_up_not_every_run() -> None:
    # Before: retrain.seed 2**32 was taken, and every retraining run then failed in DHAG's own
    # parameter check (random_state at most 2**32 - 1), a day after start-up at the earliest.
    from dhag import DHAG
    from dhag.params import MAX_SEED, validate_params

    largest = load_settings(None, {"DHAG_PIPELINE_RETRAIN__SEED": str(MAX_SEED)}).retrain.seed
    validate_params(DHAG(random_state=largest))
    with pytest.raises(ConfigError, match=r"key 'retrain\.seed' has value 4294967296; allowed: less than"):
        load_settings(None, {"DHAG_PIPELINE_RETRAIN__SEED": str(MAX_SEED + 1)})


@pytest.mark.parametrize(
    ("key", "value"), [("SHUTDOWN_GRACE_S", "1.0e+10"), ("KAFKA__BACKOFF_MAX_S", "1.0e+10")]
)
def test_a_wait_longer_than_the_platform_can_time_stops_start_up(key: str, value: str) -> None:
    # Before: taken, and the wait itself raised OverflowError ("timestamp out of range for platform
    # time_t"): at SIGTERM a traceback from the grace timer's thread, and no forced exit; in an outage
    # a traceback out of the broker retry loop.
    import threading

    with pytest.raises(OverflowError):
        threading.Event().wait(float(value))
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {f"DHAG_PIPELINE_{key}": value})
    dotted = key.lower().replace("__", ".")
    assert str(raised.value).startswith(f"config error: key {dotted!r} has value 10000000000.0; allowed:")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # YAML 1.1 reads 0500 as the octal number 320: before, a batch of 320, silently.
        (
            "kafka:\n  batch_size: 0500\n",
            "line 2, key kafka.batch_size: 0500 has a leading 0, which YAML reads",
        ),
        # Not octal, so text: before, refused as "quoted, a number is text", though it was not quoted.
        ("metrics:\n  port: 09108\n", "line 2, key metrics.port: 09108 has a leading 0, which YAML reads"),
    ],
)
def test_a_number_with_a_leading_zero_is_refused_not_read_as_octal(
    tmp_path: Path, text: str, said: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    assert said in str(info.value)
    assert "write it without the leading 0 for the number, or quote it for the text" in str(info.value)
    with pytest.raises(ConfigError, match="DHAG_PIPELINE_KAFKA__BATCH_SIZE .*0500 has a leading 0"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "0500"})
    assert (
        load_settings(
            None, {"DHAG_PIPELINE_RECORDS__MAX_IMPUTED_FRACTION": "0.5"}
        ).records.max_imputed_fraction
        == 0.5
    )


def test_a_password_with_a_leading_zero_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  security:\n    sasl_plain_password: 0123456\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    said = str(info.value)
    assert "key kafka.security.sasl_plain_password: (hidden) has a leading 0" in said
    assert "123456" not in said and str(0o123456) not in said


@pytest.mark.parametrize(
    "key", ["KAFKA__GROUP_ID", "KAFKA__SECURITY__SASL_PLAIN_PASSWORD", "KAFKA__BATCH_SIZE", "MODEL__REGISTRY"]
)
def test_an_environment_value_that_is_not_utf8_is_refused_naming_the_variable(key: str) -> None:
    # The process holds such bytes (0xe9: é in Latin-1) as a lone surrogate, as Python decodes them.
    # Before: a group id or password was taken, for kafka-python to fail on in every request it wrote
    # ("'utf-8' codec can't encode character '\udce9'"), and a path was refused quoting pydantic's
    # "unable to parse raw data as a unicode string".
    variable = f"DHAG_PIPELINE_{key}"
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {variable: "caf\udce9"})
    said = str(refused.value)
    assert said == (
        f"config error: environment variable {variable} is not UTF-8 text: its character 4 is byte 0xe9, "
        "which UTF-8 does not take (Latin-1 text?): set it from UTF-8 text"
    )
