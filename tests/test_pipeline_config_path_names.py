"""A path setting no file system can hold (a NUL character, a part longer than a file name can be)
stops start-up naming the key, exit 2, before anything looks at the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main

TLS = "kafka:\n  bootstrap_servers: k:9092\n  security:\n    security_protocol: SSL\n"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('model:\n  registry: "models\\0/registry"\n', "model.registry"),
        ('retrain:\n  label_store: "labels\\0.sqlite"\n', "retrain.label_store"),
        (TLS + '    ssl_cafile: "ca\\0.pem"\n', "kafka.security.ssl_cafile"),
    ],
)
def test_a_path_with_a_nul_character_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    # Before: check-config died in a traceback ("ValueError: embedded null byte", exit 1) for the TLS
    # file, or took the registry and printed its path with the NUL in it; run died in that traceback.
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"config error: {key}: ") and "a NUL character" in err
    assert "\0" not in err and "Traceback" not in err


@pytest.mark.parametrize("key", ["model.registry", "retrain.label_store", "kafka.security.ssl_keyfile"])
def test_a_path_with_a_part_longer_than_a_file_name_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    # Before: check-config died in a traceback ("OSError: [Errno 36] File name too long", exit 1).
    section, name = key.rsplit(".", 1)
    long = "/data/" + "r" * 300 + "/x"
    text = TLS + f"    {name}: {long}\n" if section == "kafka.security" else f"{section}:\n  {name}: {long}\n"
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"config error: {key}: ")
    assert "a part of it is 300 bytes long; no file or folder name is longer than 255" in err
    assert len(err) < 400 and "Traceback" not in err


def test_a_long_path_of_short_parts_is_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  registry: {'/'.join(['r' * 200] * 5)}\n")
    assert main(["check-config", "--config", str(config)]) == 0
