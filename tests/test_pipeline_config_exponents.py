"""A number written with an exponent that YAML 1.1 reads as text (``2e-3``: no dot) is refused with the
spelling YAML reads as that number: before, every such refusal said "write 1.0e+3 for 1e3", whatever
was written."""

from __future__ import annotations

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    "variable, written, meant",
    [("DHAG_PIPELINE_DRIFT__DELTA", "2e-3", "2.0e-3"), ("DHAG_PIPELINE_ALERTS__QUIET_S", "3E2", "3.0E+2")],
)
def test_a_number_with_an_exponent_read_as_text_is_told_how_to_write_it(
    variable: str, written: str, meant: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {variable: written})
    assert f"write {meant}, or the digits)" in str(refused.value)
    settings = load_settings(None, {variable: meant})  # YAML reads what the hint says as the number
    assert (settings.drift.delta, settings.alerts.quiet_s) in [(0.002, 300.0), (0.002, 300.0)]
