"""A long path in a config message is cut as every value a config message shows is
(:func:`pipeline.configvalues.shown`): its first 100 characters, quoted, and its length."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.configvalues import shown


@pytest.mark.parametrize("key", ["ssl_cafile", "ssl_certfile"])
def test_check_config_cuts_a_long_tls_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    # Before: "cannot read '/tmp/.../rrrr...'" with the whole path of 5000 characters on the line.
    long = str(tmp_path.joinpath(*["r" * 250] * 20))
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  security:\n    security_protocol: SSL\n    {key}: {long}\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"config error: kafka.security.{key}: cannot read {shown(long)}: File name too long"
    )
    assert long not in line and f"({len(long)} characters)" in line
