"""Values YAML 1.1 reads otherwise than an operator wrote them, refused naming the key and what was
written rather than taken as YAML read them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("key", "written"),
    [
        # YAML 1.1 reads 5:00 as base 60, 300: before, a quiet period of 300 s, silently.
        (("alerts", "quiet_s"), "5:00"),
        (("kafka", "poll_timeout_ms"), "1:30"),  # before: 90 ms
        (("retrain", "interval_s"), "12:30:00"),  # before: 45000 s
        (("alerts", "backfill_s"), "1:30.5"),  # a float in base 60: 90.5
        (("kafka", "group_id"), "12:30"),  # text: before, refused showing 750
    ],
)
def test_a_value_in_base_60_is_refused_naming_the_key_and_what_was_written(
    tmp_path: Path, key: tuple[str, ...], written: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"{key[0]}:\n  {key[1]}: {written}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    said = str(info.value)
    assert f"line 2, key {'.'.join(key)}: {written} " in said
    assert "base 60" in said and "quote it" in said
    variable = "DHAG_PIPELINE_" + "__".join(key).upper()
    if key != ("kafka", "group_id"):  # text from a variable is taken as written
        with pytest.raises(ConfigError, match=f"{variable} .*{written} .*base 60"):
            load_settings(None, {variable: written})


def test_a_password_in_base_60_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  security:\n    ssl_password: 12:34:56\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    said = str(info.value)
    assert "key kafka.security.ssl_password: (hidden)" in said
    assert "12:34:56" not in said and str(12 * 3600 + 34 * 60 + 56) not in said


def test_text_with_colons_yaml_reads_as_text_is_still_taken() -> None:
    settings = load_settings(None, {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "broker:9092"})
    assert settings.kafka.bootstrap_servers == "broker:9092"


@pytest.mark.parametrize("written", ["0:30", "1:60"])
def test_minutes_and_seconds_yaml_leaves_as_text_are_refused_saying_the_unit(written: str) -> None:
    # Not base 60 to YAML (a leading 0, a 60), so text: before, refused as "allowed: a valid number".
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_ALERTS__QUIET_S": written})
    assert f"has value {written!r} (quiet_s is a number of seconds, not minutes and seconds)" in str(
        info.value
    )


# -- kafka.bootstrap_servers ------------------------------------------------------------------------------
def test_broker_addresses_as_a_yaml_list_are_refused_saying_how_to_join_them(tmp_path: Path) -> None:
    # Before: "allowed: a valid string", and nothing said that one text joined by commas was meant.
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  bootstrap_servers:\n    - kafka-1:9092\n    - kafka-2:9092\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    said = str(info.value)
    assert said.startswith("config error: kafka.bootstrap_servers: a YAML list")
    assert "one text, the addresses joined by commas: 'kafka-1:9092,kafka-2:9092'" in said


@pytest.mark.parametrize(
    ("servers", "said"),
    [
        # kafka-python drops such a prefix: SSL:// here would not turn TLS on.
        ("PLAINTEXT://kafka-1:9092", "'PLAINTEXT://kafka-1:9092': drop 'PLAINTEXT://'"),
        ("k:9092,SASL_SSL://k2:9093", "'SASL_SSL://k2:9093': drop 'SASL_SSL://'"),
        ("fe80::1:9092", "'fe80::1:9092': an IPv6 address goes in brackets, [fe80::1]:9092"),
        ("[fe80::zz]:9092", "'[fe80::zz]:9092': 'fe80::zz' is no IPv6 address"),
        ("kafka-1", "'kafka-1' has no port: write kafka-1:9092"),
        ("kafka-1:99999", "'kafka-1:99999': port 99999 is not 1 to 65535"),
        ("kafka-1:0", "'kafka-1:0': port 0 is not 1 to 65535"),
        ("k:9092,,k2:9092", "an empty address (a comma too many)"),
        ("kafka 1:9092", "'kafka 1:9092' is not host:port"),
    ],
)
def test_a_broker_address_refused_says_why(servers: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": servers})
    assert said in str(info.value)
    assert str(info.value).startswith("config error: kafka.bootstrap_servers: ")


@pytest.mark.parametrize(
    ("servers", "taken"),
    [
        # An IPv6 link-local address needs its zone (the interface): before, refused without a word why.
        ("[fe80::1%eth0]:9092", "[fe80::1%eth0]:9092"),
        ("[::ffff:10.0.0.5]:9092", "[::ffff:10.0.0.5]:9092"),
        ("kafka-1:9092, kafka-2:9092", "kafka-1:9092,kafka-2:9092"),  # kafka-python takes the spaces too
    ],
)
def test_broker_addresses_kafka_python_takes_are_taken(servers: str, taken: str) -> None:
    settings = load_settings(None, {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": servers})
    assert settings.kafka.bootstrap_servers == taken


def test_an_unquoted_ipv6_broker_address_in_the_file_says_to_quote_it(tmp_path: Path) -> None:
    # Before: only "expected the node content, but found ':'", YAML having begun a list at the '['.
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  bootstrap_servers: [::1]:9092\n")
    with pytest.raises(
        ConfigError, match=r"line 2, .*\(a value that starts with '\[' is a YAML list: quote it"
    ):
        load_settings(config, {})
    config.write_text("kafka:\n  bootstrap_servers: '[::1]:9092'\n")
    assert load_settings(config, {}).kafka.bootstrap_servers == "[::1]:9092"


def test_an_empty_section_says_it_is_empty_not_none(tmp_path: Path) -> None:
    # Before: "key 'kafka' has value None", of a section whose keys were not indented (or all commented
    # out): the operator wrote no None.
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\nbatch_size: 5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    said = str(info.value).splitlines()
    assert said[0] == (
        "config error: key 'kafka' is empty (nothing indented under it): indent its keys under it, or "
        f"remove it to take its defaults (line 1 of {str(config)!r})"
    )
    assert said[1] == (
        "config error: unknown key 'batch_size' (value 5); did you mean kafka.batch_size? "
        f"(line 2 of {str(config)!r})"
    )


@pytest.mark.parametrize("written", ["", " null", " ~"])
def test_a_key_with_no_value_says_so_not_none(tmp_path: Path, written: str) -> None:
    # Before: "key 'kafka.batch_size' has value None; allowed: a valid integer": the operator wrote no
    # None, and nothing said that removing the key takes its default.
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  batch_size:{written}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    assert str(info.value) == (
        "config error: key 'kafka.batch_size' has no value (nothing after its colon, null or ~: YAML's "
        f"null); allowed: a valid integer; remove the key to take its default (line 2 of {str(config)!r})"
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("null", "has no value (null or ~: YAML's null); allowed: true or false; unset the variable to take"),
        ("", "has value '' (the variable is empty: unset it to take the default); allowed: true or false"),
    ],
)
def test_a_variable_with_no_value_says_to_unset_it(value: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_DRIFT__ENABLED": value})
    assert str(info.value).startswith(f"config error: key 'drift.enabled' {said}")
    assert str(info.value).endswith("(set by DHAG_PIPELINE_DRIFT__ENABLED)")
    with pytest.raises(ConfigError, match="has no value .*; remove the key to take its default "):
        load_settings(None, {"DHAG_PIPELINE_DRIFT": "{enabled: null}"})  # the variable sets its section


def _integer_keys(model: type[BaseModel], above: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], int]]:
    """Every setting that holds an integer, with its default."""
    keys = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += _integer_keys(field.annotation, (*above, name))
        elif field.annotation is int:
            keys.append(((*above, name), field.default))
    return keys


def test_every_integer_setting_written_with_a_point_says_to_write_a_whole_number(tmp_path: Path) -> None:
    # Before: "has value 5000.0; allowed: a valid integer", of a value that is one, with nothing to say
    # that the ".0" alone was at fault.
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  batch_size: 5000.0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    assert str(info.value) == (
        "config error: key 'kafka.batch_size' has value 5000.0 (batch_size is a whole number: write 5000); "
        f"allowed: a valid integer (line 2 of {str(config)!r})"
    )
    keys = _integer_keys(Settings)
    assert len(keys) > 30 and (("metrics", "port"), 9108) in keys
    for key, default in keys:
        variable = "DHAG_PIPELINE_" + "__".join(key).upper()
        with pytest.raises(ConfigError) as info:
            load_settings(None, {variable: f"{default}.0"})
        said = f"key {'.'.join(key)!r} has value {default}.0 ({key[-1]} is a whole number: write {default});"
        assert said in str(info.value), str(info.value)


def test_an_integer_setting_with_a_fraction_is_refused_without_a_whole_number_to_write() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "5000.5"})
    assert str(info.value).startswith("config error: key 'kafka.batch_size' has value 5000.5; allowed:")


@pytest.mark.parametrize(
    ("key", "written", "read_as"),
    [
        (("kafka", "group_id"), "12345", "a number"),
        (("kafka", "topics", "input"), "2024", "a number"),
        (("kafka", "topics", "alerts"), "1.5", "a number"),
        (("kafka", "client_id"), "2024-01-01", "a date"),
        (("kafka", "security", "sasl_plain_username"), "1234", "a number"),
        (("kafka", "security", "sasl_plain_password"), "20241231", "a number"),
    ],
)
def test_a_name_yaml_read_as_a_number_or_a_date_says_to_quote_it(
    tmp_path: Path, key: tuple[str, ...], written: str, read_as: str
) -> None:
    # Before: "key 'kafka.group_id' has value 12345; allowed: a valid string", which 12345 seems to be.
    config = tmp_path / "config.yaml"
    config.write_text("".join(f"{'  ' * i}{part}:\n" for i, part in enumerate(key[:-1])))
    config.write_text(config.read_text() + f"{'  ' * (len(key) - 1)}{key[-1]}: {written}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    said = str(info.value)
    assert said.startswith(f"config error: key '{'.'.join(key)}' has value ")
    assert f"(YAML reads an unquoted {read_as.split()[1]} as {read_as}: quote it for the text)" in said
    if "password" in key[-1]:
        assert written not in said


@pytest.mark.parametrize(
    ("servers", "said"),
    [
        ("Embedded", "'Embedded': write embedded, in lower case and alone, for a broker of its own"),
        (" embedded", "' embedded': write embedded, in lower case and alone, for a broker of its own"),
        ("EMBEDDED ", "'EMBEDDED ': write embedded, in lower case and alone, for a broker of its own"),
        (
            "embedded,kafka-1:9092",
            "'embedded' goes alone, for a broker of its own, never among the addresses of a cluster",
        ),
    ],
)
def test_embedded_spelt_otherwise_or_among_addresses_says_how_to_write_it(servers: str, said: str) -> None:
    # Before: "'Embedded' has no port: write Embedded:9092 for Kafka's usual port", a broker address.
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": servers})
    message = str(info.value)
    assert message.startswith("config error: kafka.bootstrap_servers: ") and said in message
    assert "9092 for Kafka's usual port" not in message
