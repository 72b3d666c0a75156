"""The retrainer told to stop: a training ends at its next epoch and promotes nothing, a one-off run
stopped before it trains nothing, and training uses no more threads than the container's CPU limit."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from log_support import own_records
from plant_data import normal
from retrain_data import SETTINGS, _readings
from test_pipeline_retrain_loop import _retrainer

from dhag import DHAG
from pipeline import registry as reg
from pipeline.labelstore import LabelStore
from pipeline.retrain import split, train_candidate
from pipeline.retrain.training import NotEnoughDataError, RunStoppedError


def test_a_training_told_to_stop_ends_at_its_next_epoch(fitted: DHAG) -> None:
    data = split([], _readings(normal(np.random.default_rng(2), 800), 0.0), 0.2)
    stop = threading.Event()
    stop.set()
    with pytest.raises(RunStoppedError, match="after epoch 1$"):
        train_candidate(fitted, data, SETTINGS, stop=stop)


def test_a_run_under_way_at_a_stop_promotes_nothing_and_leaves_its_labels_for_the_next(
    registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, the training went on in a daemon thread after the retrainer returned: interpreter
    # shutdown killed it inside torch (exit -6, "terminate called without an active exception"), or it
    # promoted a model after the log had said that nothing was.
    store, clock = LabelStore(":memory:"), [10_000.0]
    retrainer, metrics = _retrainer(registry, store, clock, max_far_increase=1.0, max_recall_drop=1.0)
    store.add_readings(_readings(normal(np.random.default_rng(6), 600), 0.0), keep=10_000)
    retrainer.request_stop()
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="pipeline.retrain.service"):
        assert retrainer.start_run("labels").result(timeout=60) is None
    assert "retraining run given up, nothing promoted: the retrainer is stopping" in caplog.text
    assert time.monotonic() - started < 10
    retrainer._finish_run()
    assert reg.current(registry)[0] == "v1" and [m.version for m in reg.list_models(registry)] == ["v1"]
    assert metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": "failed"}) == 0
    assert store.get_state("last_run_label_id") is None  # its labels count as new at the next start


class _Idle:
    def close(self, *args: object, **kwargs: object) -> None:
        pass


def test_a_one_off_run_stopped_before_it_began_trains_nothing_and_says_so(
    registry: Path, monkeypatch
) -> None:
    # Before, --once trained on what its interrupted catch-up had read, and could promote it.
    store = LabelStore(":memory:")
    retrainer, _ = _retrainer(registry, store, [10_000.0])
    monkeypatch.setattr(retrainer, "_clients", lambda: (_Idle(), _Idle()))
    monkeypatch.setattr(retrainer, "_assign", lambda consumer: [])
    monkeypatch.setattr(retrainer, "catch_up", retrainer.request_stop)  # the signal comes meanwhile
    monkeypatch.setattr(retrainer, "start_run", lambda trigger: pytest.fail("a run started"))
    assert retrainer.run(once=True) == 1


def test_training_threads_are_capped_at_the_containers_cpu_limit(monkeypatch) -> None:
    import torch

    from pipeline import cpuquota

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(8)
        monkeypatch.setattr(cpuquota, "cpu_quota", lambda root="/sys/fs/cgroup": 2)
        cpuquota.limit_torch_threads("training")
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(cpuquota, "cpu_quota", lambda root="/sys/fs/cgroup": None)
        torch.set_num_threads(8)
        cpuquota.limit_torch_threads("training")
        assert torch.get_num_threads() == 8
    finally:
        torch.set_num_threads(threads)


def test_a_one_off_run_that_finished_before_the_stop_exits_0(registry: Path, monkeypatch) -> None:
    from concurrent.futures import Future

    store = LabelStore(":memory:")
    retrainer, _ = _retrainer(registry, store, [10_000.0])
    monkeypatch.setattr(retrainer, "_clients", lambda: (_Idle(), _Idle()))
    monkeypatch.setattr(retrainer, "_assign", lambda consumer: [])
    monkeypatch.setattr(retrainer, "catch_up", lambda: None)
    done: Future = Future()
    done.set_result(_result("promoted", []))  # the run promoted its candidate ...

    def run(trigger: str) -> Future:
        retrainer._training = done
        retrainer.request_stop()  # ... and the signal came as it finished
        return done

    monkeypatch.setattr(retrainer, "start_run", run)
    monkeypatch.setattr(retrainer, "_finish_run", lambda: None)
    assert retrainer.run(once=True) == 0


def test_a_candidate_trained_as_the_stop_came_is_not_published(registry: Path, fitted: DHAG) -> None:
    # A training that ended just as the stop came went on to publish and promote its candidate,
    # after the retrainer had logged that nothing was promoted.
    from pipeline.retrain import run_cycle

    stop = threading.Event()

    def train(current: DHAG, data: object, settings: object) -> DHAG:
        stop.set()  # the signal comes during the last epoch
        return current

    normal_rows = _readings(normal(np.random.default_rng(4), 800), 0.0)
    with pytest.raises(RunStoppedError, match="judged, not published"):
        run_cycle(registry, [], normal_rows, SETTINGS, train=train, stop=stop)
    assert [m.version for m in reg.list_models(registry)] == ["v1"]


def test_a_retrainer_stopped_says_so_with_what_it_read(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Its log ended at the signal: nothing told a clean stop from a process killed mid-poll.
    store = LabelStore(":memory:")
    retrainer, _ = _retrainer(registry, store, [10_000.0])
    monkeypatch.setattr(retrainer, "_clients", lambda: (_Idle(), _Idle()))
    monkeypatch.setattr(retrainer, "_assign", lambda consumer: [])
    monkeypatch.setattr(retrainer, "due", lambda: None)
    polls = iter([3, 4])

    def poll(consumer: object, producer: object) -> int:
        held = next(polls)
        if held == 4:
            retrainer.request_stop()
        return held

    monkeypatch.setattr(retrainer, "_poll", poll)
    with caplog.at_level(logging.INFO, logger="pipeline.retrain.service"):
        assert retrainer.run() == 0
    assert own_records(caplog)[-1].getMessage() == (
        "stopped: 7 records read since start, labels and samples saved in the label store"
    )


class _CaughtUp(_Idle):
    """A consumer whose partitions are all read (catch_up then stops after two empty polls)."""

    def end_offsets(self, parts: object) -> dict:
        return {}


def _one_off(registry: Path, monkeypatch, cycle) -> object:  # noqa: ANN001
    """A retrainer whose ``--once`` catch-up reads 5 records, and whose run is ``cycle``."""
    from pipeline.retrain import runs

    retrainer, _ = _retrainer(registry, LabelStore(":memory:"), [10_000.0])
    monkeypatch.setattr(retrainer, "_clients", lambda: (_CaughtUp(), _Idle()))
    monkeypatch.setattr(retrainer, "_assign", lambda consumer: [])
    polls = iter([5, 0, 0])
    monkeypatch.setattr(retrainer, "_poll", lambda consumer, producer: next(polls))
    monkeypatch.setattr(runs, "run_cycle", lambda *args, **kwargs: cycle(retrainer))
    return retrainer


def _result(outcome: str, reasons: list[str], after_error: str | None = None) -> object:
    from pipeline.retrain.cycle import RunResult

    return RunResult(outcome, "v1", "v2", Path("/r/v2.report.json"), {"reasons": reasons}, after_error)


def _raise(exc: BaseException):  # noqa: ANN202
    def cycle(retrainer: object) -> None:
        raise exc

    return cycle


def _stop_then_raise(retrainer) -> None:  # noqa: ANN001
    retrainer.request_stop()  # the signal comes during the training, which ends at its next epoch
    raise RunStoppedError("the retrainer is stopping: the training ended after epoch 2")


SAVED = "5 records read, labels and samples saved in the label store"


@pytest.mark.parametrize(
    ("cycle", "code", "closing"),
    [
        (
            lambda r: _result("promoted", ["no metric worse than the current model's beyond its tolerance"]),
            0,
            f"retrain --once done: candidate v2 promoted over v1 (report /r/v2.report.json); {SAVED}",
        ),
        (
            lambda r: _result("promoted", [], "writing its report /r/v2.report.json failed: OSError: full"),
            0,
            "retrain --once done: candidate v2 promoted over v1; then writing its report /r/v2.report.json "
            f"failed: OSError: full; {SAVED}",
        ),
        (
            lambda r: _result("rejected", ["recall 0.100 < current 0.900 - 0.05", "far 0.2 > 0.01"]),
            0,
            "retrain --once done: candidate v2 rejected, judged against v1: recall 0.100 < current "
            f"0.900 - 0.05; far 0.2 > 0.01 (report /r/v2.report.json); {SAVED}",
        ),
        (
            _raise(NotEnoughDataError("12 normal training rows, fewer than retrain.min_normal_rows (500)")),
            0,
            "retrain --once done: no retraining run, nothing trained: 12 normal training rows, fewer than "
            f"retrain.min_normal_rows (500); {SAVED}",
        ),
        (
            _raise(OSError(28, "No space left on device")),
            1,
            "retrain --once failed: the retraining run raised OSError: [Errno 28] No space left on device "
            f"(traceback above); {SAVED}",
        ),
        (
            _stop_then_raise,
            1,
            f"retrain --once stopped: the retraining run was given up at the stop, nothing promoted; {SAVED}",
        ),
    ],
    ids=["promoted", "promoted, report not written", "rejected", "nothing to do", "failed", "given up"],
)
def test_a_one_off_run_ends_its_log_with_its_outcome(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture, cycle, code: int, closing: str
) -> None:
    # `run` ends its log with a closing line; `--once` ended with the run's own lines (a promoted run
    # with "run report: ..." after them, a run with too little data with a warning), or with nothing.
    retrainer = _one_off(registry, monkeypatch, cycle)
    with caplog.at_level(logging.INFO):
        assert retrainer.run(once=True) == code
    assert own_records(caplog)[-1].getMessage() == closing
    assert own_records(caplog)[-1].levelno == (logging.INFO if code == 0 else logging.WARNING)


@pytest.mark.parametrize("failures", [("prune",), ("prune", "report")])
def test_a_failure_after_the_decision_is_counted_by_step_beside_the_runs_outcome(
    registry: Path, monkeypatch, failures: tuple[str, ...]
) -> None:
    # Before: only --once's closing line said so; a --watch retrainer's metrics showed a clean run.
    from pipeline.retrain.cycle import RunResult

    def cycle(retrainer: object) -> RunResult:
        report = Path("/r/v2.report.json")
        return RunResult("promoted", "v1", "v2", report, {"reasons": []}, "failed", failures)

    retrainer = _one_off(registry, monkeypatch, cycle)
    assert retrainer.run(once=True) == 0
    value = retrainer.metrics.registry.get_sample_value
    assert value("dhag_retrain_runs_total", {"outcome": "promoted"}) == 1
    for step in ("prune", "report"):
        counted = value("dhag_retrain_after_decision_failures_total", {"step": step})
        assert counted == (1 if step in failures else 0)


def test_a_one_off_run_stopped_while_catching_up_ends_its_log_saying_so(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    retrainer = _one_off(registry, monkeypatch, lambda r: pytest.fail("a run started"))
    polls = iter([5, 0])

    def poll(consumer: object, producer: object) -> int:
        held = next(polls)
        if held == 0:
            retrainer.request_stop()
        return held

    monkeypatch.setattr(retrainer, "_poll", poll)
    with caplog.at_level(logging.INFO):
        assert retrainer.run(once=True) == 1
    assert own_records(caplog)[-1].getMessage() == (
        f"retrain --once stopped before the retraining run, nothing trained; {SAVED}"
    )


class _NoTimer:
    """The grace deadline's timer, never started: the test process must not be forced to exit."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.daemon = True

    def start(self) -> None:
        pass


@pytest.mark.parametrize("under_way", [False, True])
def test_a_retrainers_sigterm_line_says_whether_a_retraining_run_is_under_way(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture, under_way: bool
) -> None:
    # Before, every stop logged "finishing the poll (a retraining run under way: up to half the
    # grace) and stopping", which read as if a run were under way when none was.
    from concurrent.futures import Future

    from pipeline import signals, topics
    from pipeline.config import Settings
    from pipeline.retrain import service
    from pipeline.retrain.command import run_retrain

    handlers: dict[int, object] = {}
    monkeypatch.setattr(signals.signal, "signal", lambda signum, h: handlers.__setitem__(signum, h))
    monkeypatch.setattr(signals.threading, "Timer", _NoTimer)
    monkeypatch.setattr(topics, "provision_topics", lambda *args, **kwargs: None)
    retrainer, _ = _retrainer(registry, LabelStore(":memory:"), [10_000.0])

    def run(once: bool = False) -> int:
        retrainer._training = Future() if under_way else None  # a run training, or none
        handlers[signal.SIGTERM](signal.SIGTERM, None)
        return 0

    monkeypatch.setattr(retrainer, "run", run)
    monkeypatch.setattr(service, "Retrainer", lambda *args, **kwargs: retrainer)
    settings = Settings.model_validate(
        {
            "model": {"registry": str(registry)},
            "kafka": {"bootstrap_servers": "unused:9092"},  # never asked: the retrainer is a stand-in
            "metrics": {"enabled": False},
        }
    )
    with caplog.at_level(logging.INFO, logger="pipeline"):
        assert run_retrain(settings, once=False) == 0
    said = [r.getMessage() for r in own_records(caplog) if r.getMessage().startswith("SIGTERM received")]
    if under_way:
        assert said == [
            "SIGTERM received: finishing the poll, then the retraining run under way (it ends at its "
            "next epoch, promoting nothing; waited for up to 20 s, half the shutdown grace), and stopping"
        ]
    else:
        assert said == ["SIGTERM received: finishing the poll and stopping (no retraining run under way)"]
