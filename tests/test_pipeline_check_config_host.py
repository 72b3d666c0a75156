"""check-config reports what `run` and `retrain` would refuse of valid settings on this host: TLS files
it cannot read, a device it does not have (both exit 2, as they do), and a registry without a model
(a warning: they exit 4 until one is published)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tls_support import tls_files

from pipeline.cli import EXIT_CONFIG, main
from pipeline.configvalues import _SHOWN as SHOWN


def _registry_with_a_model(folder: Path) -> Path:
    from pipeline.registrypointer import CURRENT, SUFFIX

    folder.mkdir(parents=True)
    (folder / CURRENT).write_text("v1\n")
    (folder / f"v1{SUFFIX}").write_bytes(b"")  # check-config loads no model: its presence is checked
    return folder


def test_check_config_refuses_tls_files_run_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: exit 0 and the settings printed; `run` then stopped with exit 2 on the first of them.
    registry = _registry_with_a_model(tmp_path / "registry")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model: {{registry: {registry}}}\n"
        "kafka:\n  bootstrap_servers: k:9092\n"
        "  security:\n    security_protocol: SSL\n    ssl_cafile: ca.pem\n    ssl_keyfile: key.pem\n"
    )
    (tmp_path / "key.pem").write_text("k")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        f"config error: kafka.security.ssl_cafile: cannot read {str(tmp_path / 'ca.pem')!r}" in captured.err
    )
    assert "key.pem" not in captured.err
    files = tls_files(tmp_path / "tls")
    (tmp_path / "ca.pem").write_bytes(files["ca"].read_bytes())
    (tmp_path / "key.pem").write_bytes(files["key"].read_bytes())
    config.write_text(config.read_text() + f"    ssl_certfile: {files['cert']}\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert capsys.readouterr().err == ""


def test_check_config_leaves_tls_files_unread_without_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = _registry_with_a_model(tmp_path / "registry")
    config = tmp_path / "config.yaml"
    config.write_text(f"model: {{registry: {registry}}}\nkafka:\n  security:\n    ssl_cafile: ca.pem\n")
    assert main(["check-config", "--config", str(config)]) == 0  # PLAINTEXT: run reads none of them


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda root: None, "there is no such folder"),
        (lambda root: root.mkdir(), "holds no model"),
    ],
    ids=["no folder", "no model"],
)
def test_check_config_warns_of_a_registry_without_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, said: str
) -> None:
    # Before: exit 0 in silence; run and retrain then exited 4 naming the registry.
    registry = tmp_path / "registy"
    make(registry)
    config = tmp_path / "config.yaml"
    config.write_text(f"model: {{registry: {registry}}}\n")
    assert main(["check-config", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert f"warning: model.registry {str(registry)!r}: {said}" in captured.err
    assert "run and retrain exit 4" in captured.err and "dhag-pipeline models train" in captured.err
    assert "registry:" in captured.out  # the effective settings, as before


def test_check_config_refuses_a_cuda_device_this_host_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has CUDA")
    registry = _registry_with_a_model(tmp_path / "registry")
    config = tmp_path / "config.yaml"
    config.write_text(f"model: {{registry: {registry}, device: cuda}}\nretrain: {{device: 'cuda:1'}}\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "config error: model.device: 'cuda': CUDA is not available on this host" in err
    assert "config error: retrain.device: 'cuda:1': CUDA is not available on this host" in err


def test_check_config_refuses_a_cuda_index_beyond_the_host_s_gpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: exit 0, the settings printed; run then stopped on the device's first use of the model.
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    registry = _registry_with_a_model(tmp_path / "registry")
    config = tmp_path / "config.yaml"
    config.write_text(f"model: {{registry: {registry}, device: 'cuda:5'}}\nretrain: {{device: 'cuda:1'}}\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "config error: model.device: 'cuda:5': this host has 2 CUDA devices (cuda:0 to cuda:1), and run "
        f"would stop on it: write one of them, cpu, or auto (line 1 of {str(config)!r})\n"
    )
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "config error: model.device: 'cuda:5': this host has 1 CUDA device (cuda:0), and run" in err
    assert "config error: retrain.device: 'cuda:1': this host has 1 CUDA device (cuda:0), and retrain" in err
    assert "write cuda:0, cpu, or auto" in err
    config.write_text(
        f"model: {{registry: {registry}, device: 'cuda:0'}}\nretrain: {{device: cuda}}\n"
        "kafka: {bootstrap_servers: 'k:9092'}\n"
    )
    assert main(["check-config", "--config", str(config)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("security", "said"),
    [
        (
            {"sasl_plain_username": "scorer", "sasl_plain_password": "pw"},
            "kafka.security.sasl_plain_username, kafka.security.sasl_plain_password are set, but are not "
            "sent: PLAINTEXT uses no SASL (kafka.security.security_protocol; SASL_SSL uses both)",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": "scorer",
                "sasl_plain_password": "pw",
                "ssl_cafile": "ca.pem",
            },
            "kafka.security.ssl_cafile is set, but is not read: SASL_PLAINTEXT uses no TLS "
            "(kafka.security.security_protocol; SASL_SSL uses both)",
        ),
    ],
    ids=["sasl", "tls"],
)
def test_check_config_warns_of_security_settings_the_protocol_leaves_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], security: dict[str, str], said: str
) -> None:
    # Before: exit 0 in silence, and the client connected without them (credentials never sent).
    registry = _registry_with_a_model(tmp_path / "registry")
    config = tmp_path / "config.yaml"
    lines = "".join(f"    {key}: {value}\n" for key, value in security.items())
    config.write_text(f"model: {{registry: {registry}}}\nkafka:\n  security:\n{lines}")
    assert main(["check-config", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {said}" in err, err
    assert "pw" not in err


def test_the_security_note_names_only_settings_the_protocol_leaves_unused() -> None:
    from pipeline.config import Settings
    from pipeline.settingnotes import setting_notes

    settings = Settings.model_validate({"kafka": {"security": {"ssl_keyfile": "k.pem"}}})
    assert any("kafka.security.ssl_keyfile is set, but" in note for note in setting_notes(settings))
    tls = {"security_protocol": "SSL", "ssl_keyfile": "k.pem"}
    kafka = {"bootstrap_servers": "k:9092", "security": tls}  # (embedded: a note of its own)
    assert not setting_notes(Settings.model_validate({"kafka": kafka}))


def test_check_config_warns_of_a_registry_it_cannot_look_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a traceback, "OSError: [Errno 36] File name too long" (or a PermissionError for a registry
    # under a folder this user may not enter), exit 1, and no settings printed.
    registry = tmp_path.joinpath(*["r" * 250] * 20)  # each part a name, the whole beyond any path
    config = tmp_path / "config.yaml"
    config.write_text(f"model: {{registry: {registry}}}\n")
    assert main(["check-config", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    (warning,) = [line for line in captured.err.splitlines() if "model.registry" in line]
    # Before: the whole path of 5000 characters, where every other value an error shows is cut.
    cut = f"{str(registry)[:SHOWN]!r}... ({len(str(registry))} characters)"
    assert warning.startswith(f"warning: model.registry {cut}: cannot be looked at here (File name too long)")
    assert "run and retrain exit 4" in captured.err and "registry:" in captured.out
