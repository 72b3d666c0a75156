"""Security basics: artifacts never run code, Kafka security settings reach the clients, the metrics
server binds where it is told, inputs are size-bounded, and secrets never reach a log."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pipeline_kafka import run_pipeline
from prometheus_client import CollectorRegistry
from tls_support import KEY_PASSWORD, tls_files

import dhag
from dhag.artifact import ArtifactError
from pipeline import brokerlink, registry, topics
from pipeline.broker import free_port
from pipeline.config import Settings, load_settings
from pipeline.daemon import Daemon
from pipeline.errors import BrokerUnavailableError, ConfigError, ModelUnavailableError
from pipeline.labels import LabelError, LabelReason, parse_label
from pipeline.metrics import PipelineMetrics, serve_metrics
from pipeline.processing import BatchProcessor
from pipeline.records import Reason, RecordParser
from pipeline.topics import ensure_topics

SECRET = "s3cr3t-Pa55word-never-logged"
SECURE = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "scorer",
    "sasl_plain_password": SECRET,
    "ssl_cafile": "/etc/kafka/ca.pem",
    "ssl_certfile": "/etc/kafka/client.pem",
    "ssl_keyfile": "/etc/kafka/client.key",
    "ssl_password": KEY_PASSWORD,
    "ssl_check_hostname": False,
}


class _Marker:
    """Unpickling this calls ``Path.touch`` on the marker: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _malicious(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(_Marker(marker)))
    assert not marker.exists()


# -- artifacts -------------------------------------------------------------------------------------
def test_a_pickle_artifact_is_refused_and_never_executed(fitted, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _malicious(tmp_path / "model.dhag", marker)
    with pytest.raises(ArtifactError, match="not a safetensors file"):
        dhag.load_model(tmp_path / "model.dhag")
    root = tmp_path / "registry"
    registry.publish(root, fitted, "v1")
    _malicious(root / "v2.dhag", marker)
    with pytest.raises(ModelUnavailableError, match="Cannot load model version 'v2'"):
        registry.promote(root, "v2")
    assert (root / "current").read_text().strip() == "v1"
    (root / "current").write_text("v2\n")  # put in place by hand: loading must still refuse it
    with pytest.raises(ModelUnavailableError):
        registry.load_current(root)
    assert not marker.exists(), "loading a model artifact executed code"


def test_a_daemon_started_on_a_pickle_artifact_exits_4_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    root = tmp_path / "registry"
    root.mkdir()
    _malicious(root / "v1.dhag", marker)
    (root / "current").write_text("v1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"DHAG_PIPELINE_MODEL__REGISTRY": str(root), "DHAG_PIPELINE_METRICS__ENABLED": "false"}
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 4 and "Cannot load model version 'v1'" in out.stderr
    assert not marker.exists()


# -- Kafka security settings -------------------------------------------------------------------------
class _Recorder:
    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = calls

    def __call__(self, **kwargs: Any) -> _Recorder:
        self.calls.append(kwargs)
        return self

    def close(self, *args: Any, **kwargs: Any) -> None:
        return None

    def describe_topics(self) -> list[dict[str, Any]]:
        return [{"name": "in", "partitions": [{"partition_index": 0}]}]


def _with_files(tmp_path: Path) -> dict[str, Any]:
    """:data:`SECURE` with certificate files the TLS library takes (a client loads them first), the key
    encrypted under its ``ssl_password``."""
    files = tls_files(tmp_path / "tls")
    named = {"ssl_cafile": files["ca"], "ssl_certfile": files["cert"], "ssl_keyfile": files["encrypted_key"]}
    return SECURE | {key: str(path) for key, path in named.items()}


def test_tls_and_sasl_settings_reach_every_kafka_client(fitted, monkeypatch, tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"kafka": {"security": _with_files(tmp_path), "bootstrap_servers": "k1:9093,k2:9093"}}
    )
    expected = settings.kafka.security.client_options()
    assert expected["sasl_plain_password"] == SECRET and expected["ssl_password"] == "key-pass"
    producers: list[dict[str, Any]] = []
    consumers: list[dict[str, Any]] = []
    admins: list[dict[str, Any]] = []
    monkeypatch.setattr(brokerlink, "KafkaProducer", _Recorder(producers))
    monkeypatch.setattr(brokerlink, "KafkaConsumer", _Recorder(consumers))
    monkeypatch.setattr(topics, "KafkaAdminClient", _Recorder(admins))
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings,
        BatchProcessor(settings, fitted, "v1", metrics),
        metrics,
        bootstrap_servers="k1:9093,k2:9093",
    )
    assert daemon._connect()
    daemon.delivery.replace()
    daemon.delivery.connect()  # a producer rebuilt after a failure gets them too
    ensure_topics("k1:9093", {"in": 1}, create_missing=False, client_options=expected)
    assert len(producers) == 2 and len(consumers) == 1 and len(admins) == 1
    for options in producers + consumers + admins:
        assert {k: options[k] for k in expected} == expected
    assert consumers[0]["bootstrap_servers"] == ["k1:9093", "k2:9093"]


def test_a_tls_file_it_cannot_read_stops_each_command_naming_the_key(
    model_registry: Path, tmp_path: Path
) -> None:
    # kafka-python failed its TLS set-up in every connection attempt and said only that no broker
    # could be reached: exit 3 after kafka.unavailable_exit_s, the cause in DEBUG logs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    secure = _with_files(tmp_path) | {
        "ssl_cafile": str(tmp_path / "missing-ca.pem"),
        "ssl_keyfile": str(tmp_path),
    }
    env |= {f"DHAG_PIPELINE_KAFKA__SECURITY__{k.upper()}": str(v) for k, v in secure.items()}
    env |= {
        "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "DHAG_PIPELINE_KAFKA__UNAVAILABLE_EXIT_S": "30",
        "DHAG_PIPELINE_MODEL__REGISTRY": str(model_registry),
        "DHAG_PIPELINE_METRICS__ENABLED": "false",
    }
    for command in (
        ["run"],
        ["retrain", "--once"],
        ["alerts"],
        ["label", "a1", "--normal", "--operator", "k"],
    ):
        done = run_pipeline(command, env, tmp_path)
        assert done.returncode == 2, (command, done.stderr[-2000:])
        assert f"kafka.security.ssl_cafile: cannot read '{tmp_path / 'missing-ca.pem'}'" in done.stderr, (
            command
        )
        assert "Traceback" not in done.stderr and SECRET not in done.stderr
    # A directory given as a file is refused too; files are only read for a TLS protocol.
    settings = Settings.model_validate({"kafka": {"security": secure | {"ssl_cafile": None}}})
    with pytest.raises(ConfigError, match="kafka.security.ssl_keyfile: .* is a folder, not a file"):
        settings.kafka.security.client_options()
    plain = secure | {"security_protocol": "SASL_PLAINTEXT"}
    assert Settings.model_validate({"kafka": {"security": plain}}).kafka.security.client_options()


# -- the metrics endpoint ------------------------------------------------------------------------------
def test_the_metrics_server_listens_on_the_configured_address_only() -> None:
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0)
    try:
        assert server.server_address[0] == "127.0.0.1"
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # Another loopback address reaches this machine, but not a socket bound to 127.0.0.1.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", port), timeout=2).close()
    finally:
        server.shutdown()
        server.server_close()


def test_the_endpoint_listens_on_the_loopback_address_unless_told_otherwise() -> None:
    # Before: every address (0.0.0.0) by default: on a plant host, anyone on the plant network could read
    # the asset names, scores and open alerts, and open connections to the unauthenticated endpoint.
    config = Path(__file__).resolve().parents[1] / "config.yaml"
    assert Settings().metrics.host == "127.0.0.1"
    assert load_settings(config, {}).metrics.host == "127.0.0.1"  # the documented default
    assert load_settings(config, {"DHAG_PIPELINE_METRICS__HOST": "0.0.0.0"}).metrics.host == "0.0.0.0"


@pytest.mark.parametrize("host", ["", "  "])
def test_an_empty_metrics_host_is_refused_not_served_on_every_address(host: str) -> None:
    # An unset variable (DHAG_PIPELINE_METRICS__HOST=$HOST) gave '', which the HTTP server takes for
    # every address: the endpoint without login opened to the plant network with nothing said.
    config = Path(__file__).resolve().parents[1] / "config.yaml"
    with pytest.raises(ConfigError, match=r"metrics.host: .* must not be blank.*DHAG_PIPELINE_METRICS__HOST"):
        load_settings(config, {"DHAG_PIPELINE_METRICS__HOST": host})


# -- input sizes ---------------------------------------------------------------------------------------
def test_records_and_labels_beyond_their_size_bound_are_refused_unparsed() -> None:
    parser = RecordParser(["a"], max_record_bytes=1024)
    huge = b'{"asset_id": "p", "ts": 1, "values": {"a": 1}, "pad": "' + b"x" * 2000 + b'"}'
    out = parser.parse([huge])
    assert [(r.reason, r.index) for r in out.rejections] == [(Reason.OVERSIZED, 0)]
    with pytest.raises(LabelError) as info:
        parse_label(
            b'{"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 5, "note": "'
            + b"x" * 20_000
            + b'"}'
        )
    assert info.value.reason == LabelReason.OVERSIZED
    settings = Settings()
    assert settings.records.max_record_bytes <= settings.kafka.max_partition_fetch_bytes


# -- secrets -------------------------------------------------------------------------------------------
def test_no_secret_reaches_the_daemon_log_or_check_config(model_registry: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {f"DHAG_PIPELINE_KAFKA__SECURITY__{k.upper()}": str(v) for k, v in SECURE.items()}
    env["DHAG_PIPELINE_KAFKA__SECURITY__SECURITY_PROTOCOL"] = "SASL_PLAINTEXT"
    env |= {
        "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "DHAG_PIPELINE_KAFKA__UNAVAILABLE_EXIT_S": "2",
        "DHAG_PIPELINE_KAFKA__BACKOFF_INITIAL_S": "0.2",
        "DHAG_PIPELINE_KAFKA__BACKOFF_MAX_S": "0.5",
        "DHAG_PIPELINE_MODEL__REGISTRY": str(model_registry),
        "DHAG_PIPELINE_METRICS__ENABLED": "false",
        "DHAG_PIPELINE_LOGGING__LEVEL": "DEBUG",
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_pipeline(list(args), env, tmp_path, timeout=90)

    checked = run("check-config")
    assert checked.returncode == 0 and "sasl_plain_username: scorer" in checked.stdout
    ran = run("run")
    assert ran.returncode == 3, ran.stderr[-2000:]  # it tried (and logged at DEBUG) before giving up
    assert len(ran.stderr.splitlines()) > 5
    for output in (checked.stdout, checked.stderr, ran.stdout, ran.stderr):
        assert SECRET not in output and "key-pass" not in output


def test_an_invalid_secret_setting_is_reported_without_its_value(tmp_path) -> None:
    from pipeline.errors import ConfigError

    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  security:\n    ssl_password: 123456\n")  # a number, not text
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    assert "ssl_password" in str(info.value) and "(hidden)" in str(info.value)
    assert "123456" not in str(info.value)
    with pytest.raises(BrokerUnavailableError) as unreachable:
        ensure_topics(
            f"127.0.0.1:{free_port()}",
            {"t": 1},
            create_missing=True,
            client_options={
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": "u",
                "sasl_plain_password": SECRET,
            },
            timeout_s=1.0,
        )
    assert SECRET not in str(unreachable.value)


# One wholly in quotes is an env file's line: taken without them (test_pipeline_config_env_quotes).
@pytest.mark.parametrize("password", ["s3cret #2024", "~", "123456", "on", "2024-01-01", "[1, 2]", "'q'x"])
def test_a_password_from_the_environment_is_taken_as_written(password: str) -> None:
    # Read as YAML, the first lost its tail to a comment, the second unset the password, and the next
    # four were refused, the refusal printing the secret.
    settings = load_settings(None, {"DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASSWORD": password})
    assert settings.kafka.security.sasl_plain_password.get_secret_value() == password
    # Other text settings too; numbers and switches are still read as YAML.
    env = {"DHAG_PIPELINE_KAFKA__GROUP_ID": "2024", "DHAG_PIPELINE_KAFKA__BATCH_SIZE": "500"}
    kafka = load_settings(None, env).kafka
    assert (kafka.group_id, kafka.batch_size) == ("2024", 500)
    # An optional path is still unset by a YAML null; any other text is the path (made absolute).
    for raw, path in (("null", None), ("~", None), ("~/ca.pem", str(Path.home() / "ca.pem"))):
        security = load_settings(None, {"DHAG_PIPELINE_KAFKA__SECURITY__SSL_CAFILE": raw}).kafka.security
        assert security.ssl_cafile == path


@pytest.mark.parametrize(
    "source",
    ["file", "DHAG_PIPELINE_KAFKA__SECURITY", "DHAG_PIPELINE_KAFKA"],
)
def test_a_section_written_as_text_that_holds_a_password_is_reported_without_it(tmp_path, source) -> None:
    # Before: "config error: key 'kafka.security' has value '{sasl_plain_password: \"hunter2}'": a
    # section that is no mapping (unbalanced quotes, a missing brace, a quoted block) was printed whole.
    text = '{sasl_plain_password: "hunter2}' if source != "file" else "sasl_plain_password: hunter2"
    config, environ = None, {}
    if source == "file":
        config = tmp_path / "config.yaml"
        config.write_text(f"kafka:\n  security: {text!r}\n")
    elif source == "DHAG_PIPELINE_KAFKA":
        environ = {source: "{security: {ssl_password: 'hunter2}}"}
    else:
        environ = {source: text}
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ)
    message = str(info.value)
    assert "hunter2" not in message, message
    assert "(hidden)" in message and "kafka" in message


@pytest.mark.parametrize(
    "variable",
    [
        "DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASWORD",  # a letter missing
        "DHAG_PIPELINE_KAFKA__SECURITY__SASL_PASSWD",
        "DHAG_PIPELINE_KAFKA__SECURITY__SSL_KEY_PASS",
    ],
)
def test_a_misspelt_secret_key_is_named_without_its_value(variable: str) -> None:
    # Before: "unknown key 'kafka.security.sasl_plain_pasword' (value 'hunter2')": only a key spelt
    # with "password" hid its value, and a misspelt one is the likeliest unknown key to hold a secret.
    with pytest.raises(ConfigError) as info:
        load_settings(None, {variable: "hunter2"})
    message = str(info.value)
    assert "hunter2" not in message, message
    key = variable.removeprefix("DHAG_PIPELINE_").lower().replace("__", ".")
    assert f"unknown key '{key}' (value '(hidden)')" in message
    # Elsewhere the value of an unknown key is still shown: it helps find the key meant.
    with pytest.raises(ConfigError, match=r"unknown key 'kafka\.batchsize' \(value 500\)"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCHSIZE": "500"})


@pytest.mark.parametrize(
    "text",
    [
        "kafka:\n  sasl_plain_pasword: hunter2\n",  # a password key misspelt, outside kafka.security
        "kafka:\n  ssl_passphrase: hunter2\n",
        "kafka:\n  secruity:\n    sasl_plain_pasword: hunter2\n",  # the section misspelt too
        "security:\n  sasl_plain_pasword: hunter2\n",  # the section at the top level
        "kafka:\n  sasl_token: hunter2\n",
    ],
)
def test_a_misspelt_secret_outside_the_security_section_is_named_without_its_value(tmp_path, text) -> None:
    # Before: "unknown key 'kafka.sasl_plain_pasword' (value 'hunter2')", and of a misspelt section
    # "unknown key 'kafka.secruity' (value {'sasl_plain_pasword': 'hunter2'})": hidden only inside
    # kafka.security or under a key spelt with "password".
    from pipeline.errors import ConfigError

    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    message = str(info.value)
    assert "hunter2" not in message, message
    assert "unknown key '" in message and "(value '(hidden)')" in message


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        (
            "kafka:\n  security:\n    ssl_password: hunter2\n",
            "DHAG_PIPELINE_KAFKA__SECURITY__SSL_PASSWORD__X",
        ),
        ('kafka:\n  security: "sasl_plain_password: hunter2"\n', "DHAG_PIPELINE_KAFKA__SECURITY__SSL_CAFILE"),
    ],
)
def test_an_override_under_a_password_of_the_file_is_refused_without_the_password(
    tmp_path, text: str, variable: str
) -> None:
    # Before: "key 'kafka.security.ssl_password' is 'hunter2' in 'config.yaml', but ... sets keys under
    # it": the file's value quoted, a password's too.
    from pipeline.errors import ConfigError

    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, {variable: "x"})
    message = str(info.value)
    assert "hunter2" not in message, message
    assert " is (hidden) in " in message and f"but {variable} sets keys under it" in message
