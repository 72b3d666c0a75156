"""``dhag-pipeline bench plant --minutes``: the fault stream gives each asset one fault per 30 simulated
minutes, so fewer minutes schedule none and every detection figure would be empty. Such a run is refused,
exit 2, naming ``--minutes`` and the least value that schedules a fault, before anything is trained."""

from __future__ import annotations

import pytest

from pipeline.cli import main
from pipeline.plantbench import scenario


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The minutes each ``run_plant_bench`` call got (it returns 0 without running anything)."""
    import pipeline.plantbench

    calls: list[float] = []
    monkeypatch.setattr(
        pipeline.plantbench, "run_plant_bench", lambda *_a, **kw: calls.append(kw["minutes"]) or 0
    )
    return calls


@pytest.mark.parametrize("minutes", ["20", "29.99", "0.01"])
def test_minutes_that_schedule_no_fault_are_refused(
    minutes: str, ran: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "plant", "--minutes", minutes]) == 2
    err = capsys.readouterr().err
    assert f"bench plant: --minutes {minutes} " in err and "no fault" in err
    assert "give at least 30" in err and "Traceback" not in err
    assert ran == []


def test_the_least_minutes_said_schedule_a_fault_for_every_asset(ran: list[float]) -> None:
    assert main(["bench", "plant", "--minutes", "30"]) == 0
    assert ran == [30.0]
    _, _, faults = scenario(seed=0, assets=2, minutes=30, history_hours=0.02)
    assert len(faults) == 2 and len({f.asset_id for f in faults}) == 2


def test_the_default_minutes_are_taken(ran: list[float]) -> None:
    assert main(["bench", "plant"]) == 0
    assert ran == [120.0]
