"""Slow scoring: batches that take longer than ``kafka.max_poll_interval_ms`` at the configured size.

A scorer slowed to a fixed cost per record is injected into an in-process daemon. Without adaptation a
batch outlives the poll interval, the group revokes the partitions, the commit is refused, and the same
batch comes back to fail again. The daemon must instead lower its poll size (``BatchLimit``), so that
every record is scored, commits go through, and at most a refused commit or two happen on the way,
none once the limit has adapted.
"""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest
from pipeline_kafka import (
    committed,
    make_settings,
    normal_rows,
    produce,
    read_topic,
    reading,
    running_daemon,
    sample,
    wait_for,
)

from pipeline.batchlimit import POLL_BUDGET_SHARE, BatchLimit

pytestmark = pytest.mark.integration

# 200 records take 4 s: twice the 2 s poll interval of the test settings.
PER_RECORD_S = 0.02


def test_batch_limit_shrinks_to_the_budget_and_grows_back_gradually() -> None:
    limit = BatchLimit(5000, budget_s=1.0)
    assert limit.observe(records=5000, seconds=10.0) == 400  # 2 ms a record, 80% of the budget
    assert limit.observe(records=400, seconds=0.04) == 800  # fast again: twofold per batch at most
    assert limit.observe(records=800, seconds=0.08) == 1600
    assert limit.observe(records=1600, seconds=0.1) == 3200
    assert limit.observe(records=3200, seconds=0.1) == 5000  # never above the configured batch size
    assert limit.observe(records=0, seconds=5.0) == 5000  # an empty poll says nothing about the cost
    assert limit.observe(records=1, seconds=0.01) == 5000  # a small, quick batch does not lower it
    assert limit.observe(records=1, seconds=60.0) == 1  # never below one record
    assert limit.refused() == 1


def test_scoring_slower_than_the_poll_interval_adapts_instead_of_looping(
    tansu, fitted, model_registry, monkeypatch
) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry, scores=True, kafka={"batch_size": 200})
    topics = settings.kafka.topics
    interval_s = settings.kafka.max_poll_interval_ms / 1000
    assert interval_s < 200 * PER_RECORD_S, "a full batch must outlive the poll interval"
    rng = np.random.default_rng(4)

    def wave(first: int) -> list[tuple[bytes, bytes]]:
        return [
            (f"s-{i % 6}".encode(), reading(f"s-{i % 6}", 1_790_000_000 + first + i, row))
            for i, row in enumerate(normal_rows(rng, 400))
        ]

    def all_committed(positions: list[tuple[int, int]]) -> None:
        high = {p: max(o for q, o in positions if q == p) + 1 for p, _ in positions}
        wait_for(lambda: committed(bs, settings.kafka.group_id, topics.input) == high, 60, "all committed")

    with running_daemon(settings, fitted, bs) as (daemon, registry):
        fast = daemon.processor.model.decision_function

        def slow(columns: dict[str, np.ndarray]) -> np.ndarray:  # the daemon's rows, named by feature
            time.sleep(PER_RECORD_S * len(next(iter(columns.values()))))
            return fast(columns)

        monkeypatch.setattr(daemon.processor.model, "decision_function", slow)
        positions = produce(bs, topics.input, wave(0))
        all_committed(positions)
        limit = sample(registry, "dhag_poll_max_records")
        refused = sample(registry, "dhag_offset_commits_total", {"result": "refused"})
        # Once adapted, batches fit the interval: a second wave is committed without one refusal. A
        # daemon that kept its full batches would have each of them refused again (4 s against 2 s).
        more = produce(bs, topics.input, wave(400))
        all_committed(more)
        refused_after = sample(registry, "dhag_offset_commits_total", {"result": "refused"})
    assert 1 <= limit <= POLL_BUDGET_SHARE * interval_s / PER_RECORD_S
    # The first full batch may outlive the interval once; on a loaded machine the commit of the batch
    # after it may be refused too, the group still settling after taking the partitions back.
    assert refused <= 2, f"{refused} refused commits: the daemon kept outliving the poll interval"
    assert refused_after == refused, f"{refused_after - refused} refused once the limit had adapted"
    # Refused commits repeat their batch: read on until the topic is quiet, not just 800 messages.
    scored = read_topic(bs, topics.scores, count=800, timeout_s=20, idle_s=1.0)
    assert {(orjson.loads(m.value)["partition"], orjson.loads(m.value)["offset"]) for m in scored} == set(
        positions + more
    )
