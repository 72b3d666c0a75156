"""A carry-over read folds a week of the alerts topic (:class:`pipeline.carryover.EpisodeFold`): what it
holds follows the assets, not the episodes read. Before, it kept the id of every episode resolved
in the read, so a fleet whose assets open and resolve alerts all week grew the daemon at each start
with the topic's history."""

from __future__ import annotations

import tracemalloc

from pipeline import carryover
from pipeline.carryover import EpisodeFold


def _events(asset: str, i: int, partition: int = 0) -> list[dict]:
    opened = {"schema": 1, "alert_id": f"{asset}-{i:08d}", "asset_id": asset, "state": "open"}
    opened |= {"opened_at": float(i), "ts": float(i), "score": 0.9, "source": f"in/{partition}/{i}"}
    return [opened, opened | {"state": "resolved", "ts": i + 0.5, "last_source": f"in/{partition}/{i + 1}"}]


def _held_after(episodes: int, partitions: list[int] | None = None) -> int:
    """The bytes a fold holds after ``episodes`` of five assets, allocated in pipeline.carryover (other
    threads' allocations left out)."""
    tracemalloc.start()
    try:
        fold = EpisodeFold("in", partitions, elsewhere=partitions is not None)
        for i in range(episodes):
            for event in _events(f"pump-{i % 5}", 2 * i, partition=i % 2):
                fold.add(event)
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, carryover.__file__)])
        return sum(stat.size for stat in snapshot.statistics("filename"))
    finally:
        tracemalloc.stop()


def test_a_read_of_many_resolved_episodes_holds_no_more_than_a_few_do() -> None:
    for partitions in (None, [0]):
        # Past a few thousand, what Python keeps for reuse (freed tuples) no longer grows either.
        few, many = _held_after(3000, partitions), _held_after(30000, partitions)
        assert many < few + 256 * 1024, (partitions, few, many)  # 27,000 ids more held: 2.5 MB


def test_an_open_event_read_again_after_its_resolution_is_still_not_carried_on() -> None:
    fold = EpisodeFold("in")
    first = _events("p1", 1)
    for event in first + _events("p1", 3) + first[:1]:  # a1 opened again by a replay, after a3 too
        fold.add(event)
    assert fold.result() == {}
    later = EpisodeFold("in", [1], elsewhere=True)
    for event in _events("p1", 5) + _events("p1", 7) + _events("p1", 5)[:1]:
        later.add(event)
    assert later.result() == {} and later.elsewhere() == {}
