"""``dhag-pipeline bench soak``'s exit code: 0 only when every record was accounted for, the daemon
stopped cleanly and it ended on the last model promoted; a soak whose daemon exited with an error, or
never swapped to a promoted model, exited 0 as long as no record was lost."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline import soak
from pipeline.config import Settings

PASSED = {
    "offered_rate": 10,
    "achieved_rate": 10,
    "accounted": True,
    "daemon_exit_code": 0,
    "promotions": [{"version": "soak-2", "at_s": 5.0}, {"version": "soak-3", "at_s": 10.0}],
    "final_model_version": "soak-3",
}


class _Broker:
    bootstrap_servers, pid = "127.0.0.1:1", None

    def __enter__(self) -> _Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.mark.parametrize(
    ("change", "code", "said"),
    [
        ({}, 0, None),
        ({"accounted": False}, 1, "not every record"),
        ({"daemon_exit_code": 1}, 1, "exited with 1"),
        ({"final_model_version": "soak-2"}, 1, "soak-3"),
        ({"final_model_version": None}, 1, "soak-3"),
        ({"promotions": [], "final_model_version": "bench-1"}, 0, None),
    ],
)
def test_the_soak_fails_when_its_daemon_did(
    change: dict[str, Any],
    code: int,
    said: str | None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(soak, "EmbeddedBroker", _Broker)
    monkeypatch.setattr(soak, "_train", lambda registry: None)
    monkeypatch.setattr(soak, "_soak", lambda *a: PASSED | change)
    emitted: list[dict[str, Any]] = []
    monkeypatch.setattr(soak, "emit", lambda result, out: emitted.append(result))
    opts = soak.SoakOptions(minutes=0.1, rate=10, interval_s=1.0, out=None)
    assert soak.run_soak(Settings(), opts) == code
    assert len(emitted) == 1
    if said is not None:
        assert said in caplog.text


@pytest.mark.parametrize(("achieved", "warned"), [(1898, True), (4990, False)])
def test_a_soak_that_offered_well_short_of_its_rate_says_so(
    achieved: int, warned: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # its latency, memory and loss figures are then those of the lower load
    monkeypatch.setattr(soak, "EmbeddedBroker", _Broker)
    monkeypatch.setattr(soak, "_train", lambda registry: None)
    monkeypatch.setattr(soak, "_soak", lambda *a: PASSED | {"offered_rate": 5000, "achieved_rate": achieved})
    monkeypatch.setattr(soak, "emit", lambda result, out: None)
    opts = soak.SoakOptions(minutes=0.1, rate=5000, interval_s=1.0, out=None)
    assert soak.run_soak(Settings(), opts) == 0
    assert (f"offered {achieved} records/s, short of --rate 5000" in caplog.text) is warned


def test_a_soak_whose_daemon_failed_quotes_its_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the log is in the run's folder, deleted as the run ends: naming its path pointed at nothing
    def failed(bs: str, registry: Any, opts: Any, partitions: int, work: Any, broker_pid: Any) -> None:
        (work / "daemon.log").write_text("ERROR kafka.topics.input 'soak' does not exist\n")
        raise RuntimeError("the daemon exited with 3")

    monkeypatch.setattr(soak, "EmbeddedBroker", _Broker)
    monkeypatch.setattr(soak, "_train", lambda registry: None)
    monkeypatch.setattr(soak, "_soak", failed)
    monkeypatch.setattr(soak, "emit", lambda result, out: None)
    opts = soak.SoakOptions(minutes=0.1, rate=10, interval_s=1.0, out=None)
    assert soak.run_soak(Settings(), opts) == 1
    assert "exited with 3" in caplog.text and "'soak' does not exist" in caplog.text
