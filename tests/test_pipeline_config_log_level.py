"""logging.level is taken in any case (``info``, as operators write it elsewhere) and ``warn`` as Python's
logging takes it: before, each was refused ("allowed: 'DEBUG', 'INFO', 'WARNING' or 'ERROR'")."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("written", "level"),
    [("info", "INFO"), ("Debug", "DEBUG"), ("warning", "WARNING"), ("warn", "WARNING"), ("ERROR", "ERROR")],
)
def test_a_log_level_in_any_case_is_taken_as_logging_names_it(
    tmp_path: Path, written: str, level: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"logging:\n  level: {written}\n")
    assert load_settings(config, {}).logging.level == level
    assert load_settings(None, {"DHAG_PIPELINE_LOGGING__LEVEL": written}).logging.level == level


def test_a_level_logging_has_not_is_refused_as_written() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"DHAG_PIPELINE_LOGGING__LEVEL": "verbose"})
    assert "key 'logging.level' has value 'verbose'; allowed: 'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in str(
        refused.value
    )
