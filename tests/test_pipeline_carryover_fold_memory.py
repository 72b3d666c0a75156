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


def _held_for_assets(assets: int) -> tuple[int, EpisodeFold]:
    """The bytes a fold capped at 500 assets holds after one episode each of ``assets`` asset ids
    (pipeline.carryover's allocations), with an episode opened first and never resolved."""
    tracemalloc.start()
    try:
        fold = EpisodeFold("in", [0], elsewhere=True, max_assets=500)
        fold.add(_events("pump-01", 0)[0])
        for i in range(assets):
            for event in _events(f"made-up-{i:08d}", 2 * i + 2):
                fold.add(event)
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, carryover.__file__)])
        return sum(stat.size for stat in snapshot.statistics("filename")), fold
    finally:
        tracemalloc.stop()


def test_a_read_of_ever_new_asset_ids_holds_no_more_than_max_assets_of_them() -> None:
    # A producer making asset ids up: each opens and resolves an episode under a new id. The fold kept
    # every one's resolution, 10,000 ids more held 4 MB, a week of them a daemon's memory.
    few, _ = _held_for_assets(2000)
    many, fold = _held_for_assets(12000)
    assert many < few + 256 * 1024, (few, many)
    assert fold.evicted == 11500
    assert [t.alert_id for t in fold.result()[0]] == ["pump-01-00000000"]  # the open one is kept
    replayed = fold.replayed()[0]
    assert len(replayed) == 500 and "made-up-00011999" in replayed and "made-up-00011499" not in replayed
