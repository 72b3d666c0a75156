"""The plant bench's fault stream cycles each asset through the fault kinds its machine type can have,
each asset of a type starting where the one before it stopped: the assets of one type together meet
every kind of that type, so a kind's detection rate is never measured on some machine types only."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.plantbench import scenario
from pipeline.simulator.faults import applicable_kinds


@pytest.mark.parametrize("minutes", [120.0, 60.0, 90.0])
def test_every_machine_type_meets_every_kind_it_can_have(minutes: float) -> None:
    _, _, faults = scenario(seed=0, assets=24, minutes=minutes, history_hours=0.01, interval_s=600)
    met: dict[str, Counter[str]] = {}
    for f in faults:
        met.setdefault(f.asset_id.split("-")[0], Counter())[f.kind] += 1
    for mtype, kinds in met.items():
        assert set(kinds) == set(applicable_kinds(mtype)), mtype
        # as evenly as the slots allow: no kind met more than once more than another
        assert max(kinds.values()) - min(kinds.values()) <= 1, (mtype, kinds)


def test_each_asset_cycles_through_its_types_kinds_in_turn() -> None:
    _, _, faults = scenario(seed=0, assets=6, minutes=240, history_hours=0.01, interval_s=600)
    by_asset: dict[str, list[str]] = {}
    for f in sorted(faults, key=lambda f: f.onset):
        by_asset.setdefault(f.asset_id, []).append(f.kind)
    fans = applicable_kinds("fan")
    first, second = by_asset["fan-01"], by_asset["fan-02"]
    assert len(first) == 8 and set(first) == set(fans)  # 8 slots: all 6 kinds, in turn
    assert first[:6] == list(fans)
    assert second[0] == fans[8 % len(fans)]  # the second fan goes on from where the first stopped
