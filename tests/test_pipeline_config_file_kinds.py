"""A config file, or a TLS file, that is no regular file of a sane size is refused naming it, without
reading it: a huge file was read whole into memory, and a named pipe (FIFO) given as the config or as a
certificate made ``check-config``, ``run`` and ``retrain`` wait for a writer that never came."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.configsecurity import SecuritySettings
from pipeline.errors import ConfigError


def _within(call: Callable[[], Any], fifo: Path, seconds: float = 20.0) -> Any:
    """``call()``'s result or exception, failing the test if it does not end within ``seconds`` (a
    writer then opens ``fifo``, so the reader stuck in it ends too)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # lets the reader's open end
        thread.join(seconds)
        pytest.fail(f"waited on the named pipe {fifo} for over {seconds} s")
    return outcome[0]


def test_a_config_file_over_a_mebibyte_is_refused_naming_it_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: read whole (a 2 GB sparse file, 2 GB of memory and more for its text), then refused by
    # YAML for its first NUL character.
    config = tmp_path / "config.yaml"
    with config.open("wb") as out:
        out.truncate(64 * 2**20)
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"config error: {str(config)!r} is 67108864 bytes long, over the 1048576 ")


def test_a_config_file_of_a_mebibyte_is_read(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  batch_size: 7\n" + "#" * (2**20 - 30) + "\n")
    assert os.path.getsize(config) <= 2**20
    assert load_settings(config, {}).kafka.batch_size == 7


def test_a_named_pipe_as_the_config_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    refused = _within(lambda: load_settings(fifo, {}), fifo)
    assert isinstance(refused, ConfigError)
    assert str(refused).startswith(f"config error: {str(fifo)!r} is a named pipe (FIFO), not a file")


@pytest.mark.parametrize("key", ["ssl_cafile", "ssl_certfile", "ssl_keyfile"])
def test_a_named_pipe_as_a_tls_file_is_refused_without_waiting(tmp_path: Path, key: str) -> None:
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    given = {"security_protocol": "SSL", key: str(fifo)}
    if key == "ssl_keyfile":  # a key file alone is refused on its own (read only beside a certificate)
        (tmp_path / "cert.pem").write_text("c")
        given["ssl_certfile"] = str(tmp_path / "cert.pem")
    security = SecuritySettings.model_validate(given)
    problems = _within(security.problems_here, fifo)
    assert problems == [
        f"config error: kafka.security.{key}: {str(fifo)!r} is a named pipe (FIFO), not a file: give the "
        "file itself"
    ]


def test_check_config_refuses_a_folder_as_a_tls_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  security:\n    security_protocol: SSL\n    ssl_cafile: {tmp_path}\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    assert f"kafka.security.ssl_cafile: {str(tmp_path)!r} is a folder, not a file" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_a_config_yaml_here_that_is_no_file_is_refused_not_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    # Before: ./config.yaml was read only when a regular file; a folder (a ConfigMap mounted onto the
    # name) or a link to a file not there was passed over, and the built-in defaults ran: an embedded
    # broker of its own, with no word of the file.
    monkeypatch.chdir(tmp_path)
    if kind == "folder":
        (tmp_path / "config.yaml").mkdir()
    else:
        (tmp_path / "config.yaml").symlink_to(tmp_path / "gone.yaml")
    assert main(["check-config"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(
        "config error: 'config.yaml' is a folder"
        if kind == "folder"
        else "config error: cannot read 'config.yaml'"
    )
