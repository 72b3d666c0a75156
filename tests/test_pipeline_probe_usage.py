"""``dhag-pipeline probe`` given settings or options it cannot take: one line on stdout, exit 1 (Docker
reserves a health check's exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pipeline_probe_cmd import _no_overrides, _probe  # noqa: F401 (the fixture clears DHAG_PIPELINE_*)

from pipeline.cli import main


def test_invalid_settings_or_options_exit_1_in_one_line(tmp_path: Path, capsys) -> None:
    # Exit 1, never 2: Docker reserves a health check's exit code 2.
    config = tmp_path / "config.yaml"
    config.write_text("metrics: {port: 70000}\nkafka: {batch_size: 0}\n")
    code, line = _probe(capsys, "--config", str(config))
    assert (
        code == 1
        and line.startswith("config error")
        and "metrics.port" in line
        and "kafka.batch_size" in line
    )
    assert _probe(capsys, "--retrainr") == (1, "usage error: unrecognized arguments: --retrainr")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--timeout", "x"], "argument --timeout: invalid float value: 'x'"),
        (["--timeout"], "argument --timeout: expected one argument"),
        (["extra"], "unrecognized arguments: extra"),
    ],
)
def test_an_option_argparse_refuses_is_one_line_on_stdout(
    capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    # Before, argparse's usage and its error went to stderr: three lines in `docker inspect`.
    code = main(["probe", *args])
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == (1, f"usage error: {said}\n", "")
