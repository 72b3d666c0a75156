"""Poison flood: garbage of every kind mixed into a good stream, then nothing but garbage.

At 20% garbage every bad record must reach the DLQ with its own reason and every good one must be
scored; at 100% the DLQ ratio cap must trip and consumption pause, visible in ``dhag_dlq_paused`` and an
error log line, with the records after the trip left unconsumed.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import orjson
import pytest
from pipeline_kafka import (
    make_settings,
    normal_rows,
    produce,
    read_topic,
    reading,
    running_daemon,
    sample,
    wait_for,
)
from plant_data import FEATURES

pytestmark = pytest.mark.integration


def _poison(i: int, row: np.ndarray) -> tuple[bytes, str]:
    """The ``i``-th poison record (the kinds rotate) and the DLQ reason it must get."""
    good = dict(zip(FEATURES, map(float, row), strict=True))
    base = {"asset_id": f"p-{i % 7}", "ts": 1_790_000_000 + i, "values": good}
    kinds = [
        (bytes([i % 256]) + b"\xff\xfe binary", "not_json"),
        (b'{"asset_id": "p-1", ', "not_json"),
        (b"", "not_json"),
        (orjson.dumps([i, i + 1]), "not_object"),
        (orjson.dumps({"asset_id": "p-1", "values": good}), "missing_field"),
        (orjson.dumps(base | {"values": good | {"flow_a": "41.2"}}), "wrong_type"),
        (orjson.dumps(base | {"values": {k: v for k, v in good.items() if k != "flow_b"}}), "missing_value"),
        (orjson.dumps(base).replace(b'"flow_a":', b'"flow_a":NaN,"x":', 1), "non_finite"),
        (orjson.dumps(base | {"note": "x" * 600}), "oversized"),
        (orjson.dumps(base | {"asset_id": "p 1; drop"}), "bad_asset_id"),
        (orjson.dumps(base | {"ts": "yesterday"}), "bad_timestamp"),
    ]
    return kinds[i % len(kinds)]


def test_twenty_percent_garbage_is_dead_lettered_by_reason_then_a_flood_pauses_consumption(
    tansu, fitted, model_registry, caplog
) -> None:
    caplog.set_level(logging.ERROR, logger="pipeline.daemon")
    bs = tansu.bootstrap_servers
    settings = make_settings(
        bs,
        model_registry,
        scores=True,
        kafka={"batch_size": 100},
        records={"max_record_bytes": 500},
        dlq={"max_ratio": 0.5, "window": 200, "min_records": 100},
    )
    topics = settings.kafka.topics
    rng = np.random.default_rng(17)
    items: list[tuple[bytes, bytes]] = []
    expected: dict[int, str] = {}  # index in items -> DLQ reason
    for i, row in enumerate(normal_rows(rng, 1100)):
        if i % 5 == 4:
            value, reason = _poison(i // 5, row)
            expected[len(items)] = reason
        else:
            value = reading(f"p-{i % 7}", 1_790_000_000 + i, row)
        items.append((f"p-{i % 7}".encode(), value))
    assert len(set(expected.values())) == 9, "every DLQ reason of the record contract is in the mix"
    positions = produce(bs, topics.input, items)
    bad_at = {positions[i]: reason for i, reason in expected.items()}
    good = set(positions) - set(bad_at)

    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        dlq = read_topic(bs, topics.dlq_topic, count=len(bad_at), timeout_s=40)
        scores = read_topic(bs, topics.scores, count=len(good), timeout_s=40)
        assert sample(registry, "dhag_dlq_paused") == 0, "20% garbage must not trip a 50% cap"
        got = {
            (int(dict(m.headers)["dlq.source.partition"]), int(dict(m.headers)["dlq.source.offset"])): dict(
                m.headers
            )["dlq.reason"].decode()
            for m in dlq
        }
        assert got == bad_at
        assert {(orjson.loads(m.value)["partition"], orjson.loads(m.value)["offset"]) for m in scores} == good

        # Now nothing but garbage: the cap trips and consumption pauses until restart.
        flood = [(b"f", b"garbage %d" % i) for i in range(1500)]
        produce(bs, topics.input, flood)
        wait_for(lambda: sample(registry, "dhag_dlq_paused") == 1, 30, "the pause")
        consumed = sample(registry, "dhag_records_consumed_total")
        time.sleep(1.5)
        assert sample(registry, "dhag_records_consumed_total") == consumed, "consumed while paused"
        assert sample(registry, "dhag_dlq_window_ratio") > 0.5
    assert consumed < len(items) + len(flood), "the whole flood was consumed: the cap did not hold"
    assert "consumption PAUSED until restart" in caplog.text
    assert sample(registry, "dhag_records_processed_total", {"outcome": "ok"}) == len(good)
