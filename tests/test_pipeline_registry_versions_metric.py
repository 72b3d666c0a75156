"""``dhag_registry_versions{state}``: the retrainer counts the registry's versions by state at start,
after each run, from the listing its prune already makes (no second read of the registry), and hourly
between runs."""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from test_pipeline_retrain_after import _promoting
from test_pipeline_retrain_loop import _retrainer
from test_pipeline_retrain_stop import _Idle, _one_off, _result

from pipeline.labelstore import LabelStore
from pipeline.retrain.registrywatch import REGISTRY_SURVEY_S

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


def test_a_version_removed_by_hand_leaves_the_count_within_the_hour_with_no_run(
    registry: Path, monkeypatch
) -> None:
    # Before, the count changed only at a run or a restart: with runs days apart, a damaged version an
    # operator removed (as the runbook says) kept DhagRegistryUnreadableVersions firing until then.
    (registry / "v0.dhag").write_bytes(b"not a model")
    now = [500.0]
    retrainer, metrics = _retrainer(registry, LabelStore(":memory:"), [10_000.0])
    retrainer.monotonic = lambda: now[0]
    monkeypatch.setattr(retrainer, "_clients", lambda: (_Idle(), _Idle()))
    monkeypatch.setattr(retrainer, "_assign", lambda consumer: [])
    monkeypatch.setattr(retrainer, "due", lambda: None)
    seen = []

    def poll(consumer: object, producer: object) -> int:  # each poll half an hour after the last
        seen.append(metrics.get_sample_value("dhag_registry_versions", {"state": "damaged"}))
        if len(seen) == 1:
            (registry / "v0.dhag").unlink()
        if len(seen) == 4:
            retrainer.request_stop()
        now[0] += REGISTRY_SURVEY_S / 2
        return 0

    monkeypatch.setattr(retrainer, "_poll", poll)
    assert retrainer.run() == 0
    assert seen == [1, 1, 0, 0]  # counted at start, then an hour on
    assert metrics.get_sample_value("dhag_registry_versions", {"state": "readable"}) == 1


def test_no_count_while_a_run_may_be_publishing_or_pruning(registry: Path) -> None:
    now = [500.0]
    retrainer, metrics = _retrainer(registry, LabelStore(":memory:"), [10_000.0])
    retrainer.monotonic = lambda: now[0]
    retrainer._survey_registry()
    (registry / "v0.dhag").write_bytes(b"not a model")
    now[0] += 2 * REGISTRY_SURVEY_S
    retrainer._training = Future()  # a run under way
    retrainer._survey_when_due()
    assert metrics.get_sample_value("dhag_registry_versions", {"state": "damaged"}) == 0
    retrainer._training = None
    retrainer._survey_when_due()
    assert metrics.get_sample_value("dhag_registry_versions", {"state": "damaged"}) == 1


def test_a_version_removed_while_the_registry_is_read_is_left_out_not_counted_as_failing(
    registry: Path, monkeypatch
) -> None:
    # Before, a version pruned elsewhere (or removed by hand) between the folder's listing and its
    # read counted as a failed read (io_error); a link whose target is gone still does.
    import dhag
    from pipeline import registry as reg
    from pipeline.retention import survey

    reg.publish(registry, reg.load_version(registry, "v1"), "v2", make_current=False)
    (registry / "v9.dhag").symlink_to(registry / "gone.dhag")
    read_manifest = dhag.read_manifest

    def removed_first(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if Path(path).name == "v2.dhag":
            Path(path).unlink()
        return read_manifest(path, *args, **kwargs)

    monkeypatch.setattr(dhag, "read_manifest", removed_first)
    assert [info.version for info in reg.list_models(registry)] == ["v1", "v9"]
    assert survey(registry) == dict.fromkeys(STATES, 0) | {"readable": 1, "io_error": 1}
