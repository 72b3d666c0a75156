"""Config YAML that cannot be read safely or means nothing: aliases that expand without bound, nesting
past any setting, tags and anchors, sections given a value, and a file with no settings; each stops
start-up naming the key, never showing a password."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


# -- YAML aliases -----------------------------------------------------------------------------------------
def _bomb(levels: int, indent: str = "") -> str:
    """Nested aliases: ``levels`` anchors, each a list of nine of the one before: 9**levels strings."""
    lines = [f'{indent}a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{indent}a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["top", "section"])
def test_a_billion_laughs_config_is_refused_quickly_naming_the_file(tmp_path: Path, where: str) -> None:
    # Before: each alias expanded when the error message quoted the value: 9**8 strings already took
    # seconds and hundreds of MB, and 9**12 here would have exhausted the machine's memory.
    config = tmp_path / "config.yaml"
    config.write_text(_bomb(12) if where == "top" else "kafka:\n" + _bomb(12, "  "))
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert time.perf_counter() - started < 1.0
    message = str(info.value)
    line = 2 if where == "top" else 3
    assert str(config) in message and "alias *a0" in message and f"line {line}" in message
    assert len(message) < 500


def test_a_billion_laughs_environment_value_is_refused_naming_the_variable() -> None:
    bomb = "[&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol], " + ", ".join(
        f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)
    )
    bomb += "]"
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": bomb})
    assert time.perf_counter() - started < 1.0
    assert "DHAG_PIPELINE_KAFKA__BATCH_SIZE" in str(info.value) and "alias" in str(info.value)
    assert len(str(info.value)) < 500


def test_any_alias_is_refused_and_an_anchor_alone_is_harmless(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("records: &name {missing_policy: reject}\nalerts: *name\n")
    with pytest.raises(ConfigError, match="alias \\*name"):
        load_settings(config)
    config.write_text("metrics: &m {port: 0}\n")
    assert load_settings(config).metrics.port == 0


def test_text_that_starts_with_an_anchor_or_alias_sign_is_refused_and_a_password_never_shown(
    tmp_path: Path,
) -> None:
    # Before: YAML took "&Xy9" of an unquoted password "&Xy9 secret" as an anchor and the password as
    # "secret", without a word; and "*hunter2" was refused quoting the password in the error.
    config = tmp_path / "config.yaml"
    security = (
        "kafka:\n  security: {security_protocol: SASL_SSL, sasl_plain_username: u, sasl_mechanism: PLAIN}\n"
    )
    for value, secret in (("&Xy9 secret", "Xy9"), ("*hunter2", "hunter2")):
        config.write_text(security.replace("PLAIN}", f"PLAIN, sasl_plain_password: {value}}}"))
        with pytest.raises(ConfigError) as info:
            load_settings(config)
        message = str(info.value)
        assert "line 2, key kafka.security.sasl_plain_password: " in message and "quote" in message
        assert secret not in message, message
    config.write_text("kafka:\n  group_id: &team-a\n")  # not a password: the text is shown
    with pytest.raises(ConfigError, match=r"line 2, key kafka\.group_id: &team-a .*anchor.*quote"):
        load_settings(config)
    # Quoted, each is the text as written.
    config.write_text(
        security.replace("PLAIN}", "PLAIN, sasl_plain_password: '&Xy9 secret'}")
        + "  group_id: '&team-a'\n  client_id: \"*x\"\n"
    )
    kafka = load_settings(config).kafka
    assert kafka.security.sasl_plain_password.get_secret_value() == "&Xy9 secret"
    assert (kafka.group_id, kafka.client_id) == ("&team-a", "*x")


def test_a_config_nested_past_any_setting_is_refused_not_a_crash(tmp_path: Path) -> None:
    # Before: a RecursionError traceback (exit 1) instead of a config error (exit 2).
    config = tmp_path / "config.yaml"
    config.write_text("kafka: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nest"):
        load_settings(config)
    with pytest.raises(ConfigError, match="DHAG_PIPELINE_KAFKA__BATCH_SIZE"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "[" * 5000 + "]" * 5000})


def test_a_refused_alias_or_nesting_names_the_key_it_is_under(tmp_path: Path) -> None:
    # Before: the file and line only; every other config error names the key.
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  topics: &name {input: plant-7}\n  group_id: *name\n")
    with pytest.raises(ConfigError, match=r"line 3, key kafka\.group_id: alias \*name"):
        load_settings(config)
    config.write_text("metrics:\n  port: 0\nretrain:\n  device: " + "[" * 40 + "]" * 40 + "\n")
    with pytest.raises(ConfigError, match=r"line 4, key retrain\.device\[0\]\[0\].*: values nest deeper"):
        load_settings(config)
    with pytest.raises(ConfigError, match=r"DHAG_PIPELINE_KAFKA \(key kafka\.group_id\): alias \*x"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA": "{topics: &x {input: a}, group_id: *x}"})
    with pytest.raises(ConfigError, match=r"DHAG_PIPELINE_KAFKA__BATCH_SIZE \(key kafka\.batch_size\[0\]\)"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "[*x]"})


def test_text_that_starts_with_a_tag_sign_is_refused_naming_the_key_and_a_password_never_shown(
    tmp_path: Path,
) -> None:
    # Before: an unquoted password "!Xy9secret" was a YAML tag, and the error quoted it ("could not
    # determine a constructor for the tag '!Xy9secret'"), naming neither the key nor the fix; from an
    # environment variable that sets a section, the whole value was printed, password and all.
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  security:\n    sasl_plain_password: !Xy9secret\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert "line 3, key kafka.security.sasl_plain_password: " in message and "quote" in message
    assert "Xy9secret" not in message, message
    environ = {"DHAG_PIPELINE_KAFKA__SECURITY": "{ssl_password: !Xy9secret , ssl_check_hostname: true}"}
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    message = str(info.value)
    assert "DHAG_PIPELINE_KAFKA__SECURITY (key kafka.security.ssl_password)" in message
    assert "Xy9secret" not in message, message
    config.write_text("kafka:\n  group_id: !team-a\n")  # not a password: the text is shown
    with pytest.raises(ConfigError, match=r"line 2, key kafka\.group_id: tag !team-a: .*quote"):
        load_settings(config)
    # YAML's own tags still read as they always did; quoted, the text is as written.
    config.write_text("kafka:\n  group_id: !!str 42\n  client_id: '!x'\n")
    assert (load_settings(config).kafka.group_id, load_settings(config).kafka.client_id) == ("42", "!x")
    config.write_text("kafka:\n  batch_size: !!int lots\n")  # any key: named, exit code 2
    with pytest.raises(ConfigError, match=r"line 2, key kafka\.batch_size: tag !!int: .*quote"):
        load_settings(config)


_TAGGED_TEXT = {  # what the error says of a value its YAML tag cannot read
    **{tag: f"key kafka.security.sasl_plain_password: tag {tag}:" for tag in ("!!int", "!!float", "!!bool")},
    "!!timestamp": "key kafka.security.sasl_plain_password: tag !!timestamp:",
    "!!map": "line 3, column 26: expected a mapping node, but found scalar",
    "!!set": "line 3, column 26: expected a mapping node, but found scalar",
}


@pytest.mark.parametrize("tag", list(_TAGGED_TEXT))
def test_a_value_its_own_yaml_tag_cannot_read_stops_start_up_naming_the_key_never_the_password(
    tmp_path: Path, capsys, tag: str
) -> None:
    # Before: the tag's constructor raised (ValueError, KeyError, AttributeError) out of the loader:
    # check-config and run ended with a traceback quoting the value, password and all, and exit code 1.
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  security:\n    sasl_plain_password: {tag} Xy9secret\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert _TAGGED_TEXT[tag] in message, message
    assert "Xy9secret".lower() not in message.lower(), message
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    printed = capsys.readouterr()
    assert "Xy9secret".lower() not in (printed.out + printed.err).lower()
    environ = {"DHAG_PIPELINE_KAFKA__SECURITY": f"{{ssl_password: {tag} Xy9secret}}"}
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    message = str(info.value)
    assert "DHAG_PIPELINE_KAFKA__SECURITY" in message, message
    assert "Xy9secret".lower() not in message.lower(), message


@pytest.mark.parametrize(
    ("text", "key"),
    [("kafka:\n  topics: 5\n", "kafka.topics"), ("alerts: on\n", "alerts"), ("kafka: []\n", "kafka")],
)
def test_a_section_given_a_single_value_says_it_takes_keys(tmp_path: Path, text: str, key: str) -> None:
    # It said "allowed: a valid dictionary or instance of TopicSettings", a name from the code.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    message = str(raised.value)
    assert f"key {key!r} has value" in message
    assert "allowed: a section of keys (key: value lines indented under it)" in message
    assert "instance of" not in message and "Settings" not in message


@pytest.mark.parametrize("text", ["", "\n  \n", "# dhag-pipeline settings\n# kafka:\n"])
def test_a_config_file_with_no_settings_in_it_is_refused_not_run_on_the_defaults(
    tmp_path: Path, text: str
) -> None:
    # Before: a file emptied by a write cut short (a full disk, an editor killed) ran the service on the
    # built-in defaults, an embedded broker among them, with nothing said.
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=f"{config}' holds no settings .* to run on the defaults"):
        load_settings(config)


def test_a_config_file_that_says_it_wants_the_defaults_is_taken(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("{}  # the documented defaults\n")
    assert load_settings(config, {}).kafka.bootstrap_servers == "embedded"


# -- YAML the parser refuses ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "said"),
    [
        # A tab where YAML wants spaces: the column shows it, the hint says why.
        (
            "kafka:\n\tbatch_size: 5\n",
            "at line 2, column 1: found character '\\t' that cannot start any "
            "token (YAML indents with spaces, never tabs)",
        ),
        # An unclosed quote ends at the end of the file: the quote's own line is what to fix.
        (
            'kafka:\n  group_id: "abc\n  batch_size: 5\n',
            "at line 4, column 1: found unexpected end of "
            "stream, while scanning a quoted scalar that starts at line 2, column 13",
        ),
        # A control character YAML does not take (a form feed pasted in): before, no line, no character.
        (
            "kafka:\n  batch_size: 5\x0c\n",
            "at line 2, column 16: character U+000C (a control character) is not allowed in YAML: remove it",
        ),
    ],
)
def test_a_yaml_syntax_error_names_the_line_and_column_and_where_its_construct_began(
    tmp_path: Path, text: str, said: str
) -> None:
    # Before: "at line 4: found unexpected end of stream", a line past the end of what the file holds,
    # and never the column or the line of the quote left open.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    assert str(raised.value) == f"config error: {str(path)!r} is not valid YAML {said}"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "kafka:\n  batch_size: 5\n  group_id: g\n  batch_size: 6\n",
            "key kafka.batch_size at line 4 was already given at line 2",
        ),
        (
            "kafka:\n  topics:\n    input: a\n    input: b\n",
            "key kafka.topics.input at line 4 was already given at line 3",
        ),
        ("kafka: {}\nalerts: {}\nkafka: {group_id: g}\n", "key kafka at line 3 was already given at line 1"),
    ],
)
def test_a_key_given_twice_names_its_full_key_and_both_lines(tmp_path: Path, text: str, said: str) -> None:
    # Before: "at line 4: key 'batch_size' appears twice in one mapping": which section's, and where
    # the other one was, the operator had to search for.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    message = str(raised.value)
    assert said in message and "YAML would keep only the last" in message, message


# -- values YAML reads otherwise than written -------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "said"),
    [
        # YAML 1.1 reads an unquoted yes/no/on/off as a boolean: a topic named "no" became False.
        (
            "kafka:\n  topics:\n    input: no\n",
            "key 'kafka.topics.input' has value False (YAML read an unquoted",
        ),
        ("kafka:\n  group_id: on\n", "key 'kafka.group_id' has value True (YAML read an unquoted"),
        ("kafka:\n  batch_size: yes\n", "key 'kafka.batch_size' has value True (YAML read an unquoted"),
        (
            "kafka:\n  auto_offset_reset: off\n",
            "key 'kafka.auto_offset_reset' has value False (YAML read an unquoted",
        ),
    ],
)
def test_a_yaml_boolean_where_no_boolean_goes_says_how_yaml_read_it(
    tmp_path: Path, text: str, said: str
) -> None:
    # Before: "key 'kafka.topics.input' has value False; allowed: a valid string", though the file
    # says "no" and nothing in it says False.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    message = str(raised.value)
    fix = "write a number" if "batch_size" in said else "quote it to mean the word"
    assert said in message and fix in message, message


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("ALERTS__QUIET_S", "30s", "a number of seconds, without a unit"),
        ("KAFKA__UNAVAILABLE_EXIT_S", "5m", "a number of seconds, without a unit"),
        ("KAFKA__REQUEST_TIMEOUT_MS", "30s", "a number of milliseconds, without a unit"),
        ("ALERTS__CARRY_OVER_S", "6.048e5", "YAML reads a number with an exponent as text"),
        ("KAFKA__BATCH_SIZE", "5e3", "YAML reads a number with an exponent as text"),
    ],
)
def test_a_number_written_as_text_says_how_to_write_it(key: str, value: str, said: str) -> None:
    # Before: "has value '6.048e5'; allowed: a valid number", of a value that is one.
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {f"DHAG_PIPELINE_{key}": value})
    message = str(raised.value)
    assert said in message and f"(set by DHAG_PIPELINE_{key})" in message, message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("kafka:\n  1: 2\n", "key 1 in kafka is a number to YAML, not a name"),
        ("no: 1\n", "key False at the top level is a boolean to YAML, not a name"),
        ("kafka:\n  topics:\n    on: x\n", "key True in kafka.topics is a boolean to YAML, not a name"),
        ("alerts:\n  null: 3\n", "key None in alerts is a null to YAML, not a name"),
    ],
)
def test_a_key_yaml_reads_as_no_text_is_named_where_it_is(tmp_path: Path, text: str, said: str) -> None:
    # Before: "key '0' has value False; allowed: Keys should be strings" of "no: 1", naming a key
    # the file does not hold and calling the key a value.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    message = str(raised.value)
    assert message.startswith(f"config error: {said}"), message
    assert ("reads an unquoted yes, no" in message) == ("a boolean" in said), message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "kafka:\n  bootstrap_server: k:9092\n",
            "unknown key 'kafka.bootstrap_server' (value 'k:9092'); did you mean kafka.bootstrap_servers?",
        ),
        (
            "alerts:\n  threshhold: 3\n",
            "unknown key 'alerts.threshhold' (value 3); remove it or fix its spelling",
        ),
        ("kafak:\n  batch_size: 3\n", "unknown key 'kafak' (value {'batch_size': 3}); did you mean kafka?"),
        ("kafka:\n  port: 9108\n", "unknown key 'kafka.port' (value 9108); did you mean metrics.port?"),
        (
            "kafka:\n  topics:\n    inptu: x\n",
            "unknown key 'kafka.topics.inptu' (value 'x'); did you mean kafka.topics.input?",
        ),
    ],
)
def test_an_unknown_key_names_the_setting_it_likely_meant(tmp_path: Path, text: str, said: str) -> None:
    # Before: "remove it or fix its spelling" alone, of a key one letter off a setting, or one that
    # belongs in another section.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    assert str(raised.value).startswith(f"config error: {said}"), str(raised.value)


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("KAFKA_BATCH_SIZE", "KAFKA__BATCH_SIZE (kafka.batch_size)"),
        ("KAFKA__TOPICS_INPUT", "KAFKA__TOPICS__INPUT (kafka.topics.input)"),
        ("KAFKA__REQUEST_TIMOUT_MS", "KAFKA__REQUEST_TIMEOUT_MS (kafka.request_timeout_ms)"),
    ],
)
def test_a_misspelt_variable_names_the_variable_meant(name: str, meant: str) -> None:
    # Before: "unknown key 'kafka_batch_size' (value 5); remove it or fix its spelling"; then the
    # dotted key of the file, where the operator had set a variable.
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {f"DHAG_PIPELINE_{name}": "5"})
    said = f"; did you mean DHAG_PIPELINE_{meant}? (set by DHAG_PIPELINE_{name})"
    assert said in str(raised.value), str(raised.value)
