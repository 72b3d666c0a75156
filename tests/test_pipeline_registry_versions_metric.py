"""``dhag_registry_versions{state}``: the retrainer counts the registry's versions by state at start and
after each run, from the listing its prune already makes (no second read of the registry)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from test_pipeline_retrain_after import _promoting
from test_pipeline_retrain_stop import _one_off, _result

STATES = ("readable", "newer_release", "bad_signature", "damaged", "io_error")


def test_a_retraining_run_reports_the_registry_by_state_after_its_prune(registry: Path) -> None:
    (registry / "v0.dhag").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{")  # cut short in a hand copy
    result = _promoting(registry)
    assert result.registry_versions == dict.fromkeys(STATES, 0) | {"readable": 2, "damaged": 1}
    assert json.loads(result.report.read_text())["kept_unreadable"] == {"v0": "damaged"}


def test_the_retrainer_exports_the_registry_by_state_at_start_and_after_each_run(
    registry: Path, monkeypatch
) -> None:
    (registry / "v0.dhag").write_bytes(b"not a model")
    seen = {}

    def cycle(retrainer):  # noqa: ANN001, ANN202
        # At start, before any run: the listing of the registry.
        seen.update({s: value("dhag_registry_versions", {"state": s}) for s in STATES})
        counts = dict.fromkeys(STATES, 0) | {"readable": 7, "newer_release": 2, "io_error": 1}
        return replace(_result("rejected", ["worse"]), registry_versions=counts)

    retrainer = _one_off(registry, monkeypatch, cycle)
    value = retrainer.metrics.registry.get_sample_value
    assert retrainer.run(once=True) == 0
    assert seen == dict.fromkeys(STATES, 0) | {"readable": 1, "damaged": 1}
    after = {s: value("dhag_registry_versions", {"state": s}) for s in STATES}
    assert after == dict.fromkeys(STATES, 0) | {"readable": 7, "newer_release": 2, "io_error": 1}
