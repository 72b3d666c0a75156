"""A retrainer killed (SIGKILL, OOM) in the middle of a run, at each step of it, then started again on the
same label store and registry: what the run did in the registry is recorded at the restart (the last
promotion, the labels it used, the report it lacks), and what it did not do is tried again."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest
from plant_data import normal
from prometheus_client import generate_latest
from retrain_data import _readings
from test_pipeline_retrain_loop import _retrainer
from test_pipeline_retrain_start_faults import _watching

from pipeline import registry as reg
from pipeline.labels import Label
from pipeline.labelstore import LabelStore, Source
from pipeline.retrain import cycle
from pipeline.retrain.cycle import report_path

OUTCOMES = ("promoted", "rejected", "failed")
LOOSE = {"max_far_increase": 1.0, "max_recall_drop": 1.0, "min_new_labels": 2, "min_interval_s": 60.0}


class _Killed(SystemExit):
    """Where the process dies: raised in the run's thread, it ends the run as a kill would."""


def _kill(*args: object, **kwargs: object) -> None:
    raise _Killed(137)


def _started(registry: Path, path: Path) -> tuple[LabelStore, list[float]]:
    """A store with a normal sample and two new labels (a run is due on them)."""
    store, clock = LabelStore(path), [10_000.0]
    store.add_readings(_readings(normal(np.random.default_rng(6), 600), 0.0), keep=10_000)
    for i in range(2):
        label = Label.model_validate(
            {"asset_id": "p1", "ts": float(i), "values": {"x": 1.0}, "label": "normal", "operator": "k"}
        )
        store.add_label(label, Source("labels", 0, i))
    store.commit()
    return store, clock


def _crash_and_restart(registry: Path, store: LabelStore, clock: list[float]):  # noqa: ANN202
    """Start a run, let the patched step kill it, and start a new retrainer on the same files."""
    retrainer, _ = _retrainer(registry, store, clock, **LOOSE)
    assert retrainer.due() == "labels"
    error = retrainer.start_run("labels").exception(timeout=120)
    assert isinstance(error, _Killed)
    store.rollback()  # what the killed process had not committed is lost
    store.close()
    clock[0] += 600.0
    again = LabelStore(store.path)
    restarted, metrics = _retrainer(registry, again, clock, **LOOSE)
    return restarted, metrics, again


def _newest(registry: Path) -> str:
    """The version published last, by its publication number (a name's text puts ``-10`` before ``-9``)."""
    published = [m for m in reg.list_models(registry) if m.version != "v1" and m.sequence is not None]
    return max(published, key=lambda m: m.sequence).version


def test_newest_is_the_last_published_not_the_highest_name(monkeypatch: pytest.MonkeyPatch) -> None:
    made = [reg.ModelInfo(f"v20261205T011500Z-{n}", Path(f"{n}.dhag"), False, sequence=n) for n in (8, 9, 10)]
    monkeypatch.setattr(reg, "list_models", lambda registry: made)
    assert _newest(Path("r")) == "v20261205T011500Z-10"


def test_a_kill_after_the_promotion_before_the_run_is_recorded(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    before = time.time()
    monkeypatch.setattr(cycle, "prune", _kill)  # the step after the promotion
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    version, _ = reg.current(registry)
    assert version != "v1"  # the run promoted its candidate before it died
    # Before: the promotion of a week ago (here: the store's first start), so DhagRetrainingNeverPromotes
    # could page while a fresh model served; and the run's labels counted as new, so a second run on the
    # same labels trained and promoted an equivalent model over it at once.
    assert metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") >= before - 1
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") >= before - 1
    assert restarted.due() is None
    assert store.get_state("last_run_label_id") == str(store.last_label_id())
    report = json.loads(report_path(registry, version).read_text())
    assert report["decision"] == "promoted" and report["parent"] == "v1" and report["trigger"] == "labels"
    assert "before writing this report" in report["after_error"]
    assert report["label_counts"]["normal_readings"] > 0
    # Recorded once: a second restart finds nothing to mend.
    store.commit()
    _, again = _retrainer(registry, store, clock, **LOOSE)
    assert again.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") == pytest.approx(
        metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds")
    )


def test_a_kill_after_the_report_before_the_run_is_recorded(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    real_info = cycle.log.info

    def info(msg: str, *args: object) -> None:  # the run's last line, after its report
        if msg.startswith("retrain run ("):
            raise _Killed(137)
        real_info(msg, *args)

    monkeypatch.setattr(cycle.log, "info", info)
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    version, _ = reg.current(registry)
    written = json.loads(report_path(registry, version).read_text())
    assert "after_error" not in written  # the run's own report, left as it was
    finished = written["finished"]
    assert metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") == finished
    assert restarted.due() is None


def test_a_kill_after_a_refused_candidate_is_published(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    real_judge = cycle.judge

    def refusing(*args: object, **kwargs: object) -> object:
        return dataclasses.replace(real_judge(*args, **kwargs), accepted=False, reasons=["recall 0.5 < 0.8"])

    monkeypatch.setattr(cycle, "judge", refusing)
    monkeypatch.setattr(cycle, "prune", _kill)
    before = time.time()
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    assert reg.current(registry)[0] == "v1"
    candidate = _newest(registry)
    report = json.loads(report_path(registry, candidate).read_text())
    assert report["decision"] == "rejected" and report["reasons"] == ["recall 0.5 < 0.8"]
    # A finished run: its labels are used, the promotion stays the store's first start.
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") >= before - 1
    assert metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") == 10_000.0
    assert restarted.due() is None


def test_a_kill_between_the_publication_and_the_promotion(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    monkeypatch.setattr(reg, "promote", _kill)
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    assert reg.current(registry)[0] == "v1"  # accepted, never promoted: not promoted at the restart
    candidate = _newest(registry)
    report = json.loads(report_path(registry, candidate).read_text())
    assert report["decision"] == "not_promoted" and "accepted" in report["reasons"][0]
    # The run did not end: its labels count as new, and the next run trains on them again.
    assert metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") == 10_000.0
    assert store.get_state("last_run_label_id") is None
    assert restarted.due() == "labels"


def test_a_kill_during_the_training_leaves_the_labels_new(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    monkeypatch.setattr(cycle, "judge", _kill)
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    assert [m.version for m in reg.list_models(registry)] == ["v1"]
    assert store.get_state("last_run_label_id") is None and restarted.due() == "labels"
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") == 10_000.0


@pytest.mark.parametrize(
    ("stamp", "report"),
    [
        ({"id": "r1", "label_id": 3, "trigger": "labels"}, None),  # no start time
        ({"id": "r1", "label_id": 3, "trigger": "labels", "started": "soon"}, None),
        (
            {"id": "r1", "label_id": 3, "trigger": "labels", "started": 0.0},
            {"decision": "promoted", "finished": "?"},
        ),
    ],
)
def test_a_damaged_stamp_or_report_is_left_aside_not_raised_at_every_start(
    fitted, tmp_path: Path, caplog, stamp: dict, report: dict | None
) -> None:
    # A stamp or report edited by hand, or from another release, raised KeyError or ValueError out of
    # the start: the retrainer failed at every start until the file was mended.
    from pipeline.retrain import interrupted

    root = tmp_path / "registry"
    model = copy.deepcopy(fitted)  # the candidate of the run the stamp names
    model.metadata_ = dict(getattr(model, "metadata_", {}) or {}) | {"retrain_run": {"id": "r1"}}
    reg.publish(root, model, "v1")
    if report is not None:
        report_path(root, "v1").write_text(json.dumps(report))
    store = LabelStore(":memory:")
    store.set_state("run_under_way", json.dumps(stamp))
    found = interrupted.recover(store, root)
    assert found is not None and found.label_id == 3 and found.outcome is None
    assert store.get_state("run_under_way") == ""
    assert "cannot tell what the unrecorded retraining run left" in caplog.text


def _refusing(*args: object, **kwargs: object) -> object:
    return dataclasses.replace(_real_judge(*args, **kwargs), accepted=False, reasons=["recall 0.5 < 0.8"])


_real_judge = cycle.judge


@pytest.mark.parametrize(
    ("patches", "outcome"),
    [
        ([(cycle, "prune", _kill)], "promoted"),  # killed after its promotion
        ([(cycle, "judge", _refusing), (cycle, "prune", _kill)], "rejected"),  # a refused candidate's
        ([(reg, "promote", _kill)], "failed"),  # accepted, killed before its promotion
        ([(cycle, "judge", _kill)], "failed"),  # during its training: it decided nothing
    ],
)
def test_a_killed_run_is_counted_once_by_the_outcome_it_is_recorded_with(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patches: list, outcome: str
) -> None:
    # Before, a run recovered at the restart was recorded but counted nowhere: increase() of
    # dhag_retrain_runs_total (the health dashboard, DhagRetrainingNeverPromotes) missed it.
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    for owner, name, patch in patches:
        monkeypatch.setattr(owner, name, patch)
    before = time.time()
    restarted, metrics, store = _crash_and_restart(registry, store, clock)

    # The first scrape sees every outcome at 0 (on a new pod address, a series first seen at 1 would
    # show no increase), the loop's next step counts the run.
    scraped = generate_latest(metrics).decode()
    assert all(f'dhag_retrain_runs_total{{outcome="{o}"}} 0.0' in scraped for o in OUTCOMES)
    _watching(restarted, monkeypatch, 1)
    counted = {o: metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": o}) for o in OUTCOMES}
    assert counted == {o: float(o == outcome) for o in OUTCOMES}
    failed_at = metrics.get_sample_value("dhag_retrain_last_failure_timestamp_seconds")
    # A run killed before its decision ended in an error: DhagRetrainingFailing says so until a success.
    assert (failed_at >= before) == (outcome == "failed")
    store.commit()
    second, again = _retrainer(registry, store, clock, **LOOSE)  # a second restart counts it no more
    generate_latest(again)
    _watching(second, monkeypatch, 1)
    assert all(again.get_sample_value("dhag_retrain_runs_total", {"outcome": o}) == 0 for o in OUTCOMES)
    assert again.get_sample_value("dhag_retrain_last_failure_timestamp_seconds") == failed_at
