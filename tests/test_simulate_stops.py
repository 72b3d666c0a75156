"""``simulate --stop ASSET:AT:DURATION`` switches a machine off for a while and starts it again cold, in a
history (to train on, as a standby machine's history holds its stops) or in the stream; before, a stop
could be scheduled from Python alone (``Fleet.add_stop``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.simulator.fleet import Fleet


def _streamed(monkeypatch, argv: list[str]) -> tuple[int, list[Fleet]]:
    fleets: list[Fleet] = []
    monkeypatch.setattr(
        "pipeline.simulator.command._stream", lambda s, a, fleet, b: fleets.append(fleet) or 0
    )
    return main(["simulate", "--bootstrap", "127.0.0.1:1", "--assets", "6", *argv]), fleets


def test_a_history_holds_the_stops_as_readings_and_not_as_ground_truth(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    argv = ["--history", str(path), "--assets", "3", "--hours", "2", "--interval", "60"]
    assert main(["simulate", *argv, "--stop", "fan-01:600:3000", "--stop", "pump-01:0:1e6"]) == 0
    frame = pd.read_csv(path)
    assert "standstill" not in frame and "warming" not in frame and "fault" not in frame
    fan = frame[frame["asset_id"] == "fan-01"].set_index("t")
    assert fan.loc[1800.0, "speed_rpm"] == 0.0 and fan.loc[1800.0, "motor_power_kw"] == 0.0
    assert fan.loc[4200.0, "speed_rpm"] > 100 and fan.loc[600.0 - 60, "speed_rpm"] > 100
    pump = frame[frame["asset_id"] == "pump-01"]
    assert (pump["motor_power_kw"].iloc[5:] == 0).all()  # stopped from the start, run down by then
    compressor = frame[frame["asset_id"] == "compressor-01"]
    assert (compressor["motor_power_kw"] > 0).all()


def test_a_stop_in_the_stream_is_scheduled_after_the_stream_starts(monkeypatch) -> None:
    code, (fleet,) = _streamed(monkeypatch, ["--stop", "fan-02:600:900", "--stop", "pump-01:0:60"])
    assert code == 0
    assert [(s.asset_id, s.start, s.end) for s in fleet.stops] == [
        ("fan-02", fleet.t + 600.0, fleet.t + 1500.0),
        ("pump-01", fleet.t, fleet.t + 60.0),
    ]
    assert fleet.faults == []  # a stop is no fault
    code, (fleet,) = _streamed(monkeypatch, [])
    assert code == 0 and fleet.stops == []


@pytest.mark.parametrize(
    ("stop", "said"),
    [
        ("fan-9:60:60", "--stop 'fan-9:60:60': 'fan-9' is no asset of this fleet (pump-01, fan-01, "),
        ("fan-01:60", "--stop takes ASSET:AT:DURATION"),
        ("fan-01:-5:60", "got 'fan-01:-5:60'"),
        ("fan-01:60:0", "DURATION above 0 (e.g. pump-02:3600:7200); got 'fan-01:60:0'"),
        (":60:60", "got ':60:60'"),
        ("fan-01:soon:60", "got 'fan-01:soon:60'"),
    ],
)
def test_a_stop_it_cannot_simulate_is_a_usage_error_before_anything_runs(
    stop: str, said: str, monkeypatch, tmp_path: Path, capsys
) -> None:
    code, fleets = _streamed(monkeypatch, ["--stop", stop])
    assert code == 2 and fleets == []
    assert said in capsys.readouterr().err
    path = tmp_path / "h.csv"
    assert main(["simulate", "--history", str(path), "--assets", "6", "--hours", "0.1", "--stop", stop]) == 2
    assert said in capsys.readouterr().err and not path.exists()
