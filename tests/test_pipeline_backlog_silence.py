"""Silence is judged per partition on what was read of it: a backlog that kafka-python hands out one
partition at a time does not make the assets of the partitions still waiting look silent, while an
asset that stopped sending on a busy partition (never quite caught up), or on one that carries nothing
at all, is still resolved as silent and forgotten after ``alerts.quiet_s``.

The daemon's real loop runs against a fake group member on a fake clock: every poll takes a second,
the plant writes its readings meanwhile, and the member hands out all of one partition's fetched
records (what it held when fetched) before it moves on to the next one, as kafka-python does.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Callable

import numpy as np
import orjson
import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.alerts import Transition
from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.delivery import DeliveryError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

TOPIC = "sensor-readings"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")
OVER = np.array([9.0, 0, 0, 0])  # far over the model's threshold
BATCH = 10  # records per poll; a poll takes a second of the fake clock


class _Member:
    """A consumer holding ``held``; ``logs`` is what the broker holds per partition."""

    def __init__(self, clock: list[float], plant: Callable[[float], None]) -> None:
        self.clock, self.plant = clock, plant
        self.held = {P0, P1}
        self.logs: dict[TopicPartition, list[tuple[bytes, bytes]]] = {P0: [], P1: []}
        self.at = {P0: 0, P1: 0}
        self.serving: TopicPartition | None = None  # the partition whose fetched records are handed out
        self.fetched_to = 0  # up to which offset
        self.commits: dict[TopicPartition, int] = {}

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.clock[0] += 1.0
        self.plant(self.clock[0])
        if self.serving is None or self.at[self.serving] >= self.fetched_to:
            order = sorted(self.held)
            if self.serving in order:  # round robin, from the partition after the last one served
                i = order.index(self.serving) + 1
                order = order[i:] + order[:i]
            waiting = [tp for tp in order if self.at[tp] < len(self.logs[tp])]
            self.serving = waiting[0] if waiting else None
            if self.serving is None:
                return {}
            self.fetched_to = len(self.logs[self.serving])  # one fetch: what the partition held then
        tp, start = self.serving, self.at[self.serving]
        chunk = self.logs[tp][start : min(start + max_records, self.fetched_to)]
        self.at[tp] += len(chunk)
        return {tp: [Rec(tp.topic, tp.partition, start + i, k, v, 0, 0) for i, (k, v) in enumerate(chunk)]}

    def write(self, tp: TopicPartition, asset: str, row: np.ndarray) -> None:
        self.logs[tp].append((asset.encode(), reading(asset, 1.7e9 + len(self.logs[tp]), row)))

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def paused(self) -> set[TopicPartition]:
        return set()

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp]) for tp in partitions}

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return self.at[tp]

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.logs[tp])

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at[tp] = offset

    def commit(self, offsets: dict, timeout_ms: int) -> None:
        self.commits.update({tp: meta.offset for tp, meta in offsets.items()})

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self.commits.get(tp)

    def commit_async(self, offsets: dict) -> None:
        pass


class _Rig:
    """The daemon on the fake clock, what it published, and the assets whose series it dropped."""

    def __init__(self, fitted, monkeypatch, kafka: dict | None = None) -> None:
        self.clock = [10_000.0]
        monkeypatch.setattr("pipeline.daemon.time.monotonic", lambda: self.clock[0])
        self.rng = np.random.default_rng(7)
        self.senders: dict[str, tuple[TopicPartition, float, bool, float]] = {}  # tp, every, over, until
        settings = Settings.model_validate(
            {
                "kafka": {"batch_size": BATCH, **(kafka or {})},
                "alerts": {"open_after": 2, "window": 3, "resolve_after": 1000, "quiet_s": 300.0},
            }
        )
        self.period_s = settings.kafka.request_timeout_ms / 1000
        metrics = PipelineMetrics(CollectorRegistry())
        self.daemon = Daemon(
            settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
        )
        self.events: list[tuple[float, dict]] = []
        self.forgotten: dict[str, float] = {}
        forget = metrics.forget_assets

        def forget_assets(assets) -> None:
            for asset in assets:
                self.forgotten.setdefault(asset, self.clock[0])
            forget(assets)

        monkeypatch.setattr(metrics, "forget_assets", forget_assets)
        monkeypatch.setattr(self.daemon.delivery, "deliver", self._deliver)
        monkeypatch.setattr(self.daemon, "_carry_over", lambda partitions, deadline=None: False)
        monkeypatch.setattr(self.daemon, "_restart_consumer", lambda: pytest.fail("no stall here"))
        self.member = _Member(self.clock, self._plant)
        self.daemon.consumer = self.member  # type: ignore[assignment]
        self.daemon._on_assigned({P0, P1})
        self.started = self.clock[0]

    def _deliver(self, messages) -> None:
        for m in messages:
            if m.topic == "anomaly-alerts":
                self.events.append((self.clock[0] - self.started, orjson.loads(m.value)))

    def sends(self, asset: str, tp: TopicPartition, every: float, *, over=False, until=float("inf")):
        """``asset`` writes a reading to ``tp`` every ``every`` seconds until ``until`` (from the start)."""
        self.senders[asset] = (tp, every, over, until)

    def _plant(self, now: float) -> None:
        t = now - self.started
        for asset, (tp, every, over, until) in self.senders.items():
            if t < until and t % every < 1.0:
                self.member.write(tp, asset, normal(self.rng, 1)[0] + (OVER if over else 0))

    def run_until(self, t: float) -> None:
        """Run the daemon's loop until ``t`` seconds from the start."""
        poll = self.member.poll

        def polled(**kwargs: int) -> dict:
            if self.clock[0] - self.started >= t:
                self.daemon._stop.set()
            return poll(**kwargs)

        self.member.poll = polled  # type: ignore[method-assign]
        self.daemon._stop.clear()
        self.daemon._loop()
        self.member.poll = poll  # type: ignore[method-assign]

    def of(self, asset: str, kind: str) -> list[tuple[float, dict]]:
        return [(t, e) for t, e in self.events if e["asset_id"] == asset and e["state"] == kind]

    def forgotten_at(self, asset: str) -> float | None:
        at = self.forgotten.get(asset)
        return None if at is None else at - self.started


def test_a_backlog_handed_out_partition_by_partition_silences_no_asset_of_the_others(fitted, monkeypatch):
    # After an outage, a restart or a rebalance, kafka-python hands out one partition's backlog before
    # the next one's. While partition 0 drained for ten minutes, the sweeps judged partition 1's assets
    # silent although their readings waited, unread, on partition 1: the open episode of "b" resolved
    # by silence (and opened again under a new alert_id once its readings were read), and the healthy
    # "c" lost its per-asset series (DhagAssetSilent fired for it after 15 minutes).
    rig = _Rig(fitted, monkeypatch)
    rig.sends("a", P0, 10.0)
    rig.sends("b", P1, 10.0, over=True)
    rig.sends("c", P1, 10.0)
    rig.sends("d", P1, 10.0, until=800.0)  # stops once the backlog is read
    rig.run_until(120.0)
    assert [e["state"] for _, e in rig.of("b", "open")] == ["open"]
    for _ in range(6000):  # a gateway's buffer flushed at once: ten minutes of reading partition 0
        rig.member.write(P0, "bulk", normal(rig.rng, 1)[0])
    rig.run_until(790.0)
    assert rig.member.at[P1] > 150  # partition 1 was read at last
    assert rig.of("b", "resolved") == [], "a fault whose readings waited unread was resolved"
    assert len(rig.of("b", "open")) == 1
    assert rig.forgotten == {}, "a healthy asset's series was dropped"
    rig.run_until(1200.0)  # and silence is judged on partition 1 again once it is read
    gone = rig.forgotten_at("d")
    assert gone is not None and 790.0 + 300.0 <= gone <= 790.0 + 300.0 + 2 * rig.period_s + 5.0
    assert rig.forgotten_at("c") is None and rig.of("b", "resolved") == []


def test_a_carried_over_episode_waits_for_its_partition_to_be_read(fitted, monkeypatch):
    # A restarted daemon carries on the episode of "b" from the alerts topic; its partition waits
    # behind partition 0's backlog, and the episode was resolved by silence before one of its
    # readings (still over the threshold) was read.
    rig = _Rig(fitted, monkeypatch)
    rig.sends("a", P0, 10.0)
    rig.sends("b", P1, 10.0, over=True)
    for _ in range(6000):
        rig.member.write(P0, "bulk", normal(rig.rng, 1)[0])
    for _ in range(30):
        rig.member.write(P1, "b", normal(rig.rng, 1)[0] + OVER)
    episode = Transition("open", "b-1", "b", 1.7e9, 1.7e9, 9.0, None, source=f"{TOPIC}/1/0")
    carried: list[int] = []

    def carry_over(partitions: set[TopicPartition], deadline: float | None = None) -> bool:
        now = rig.daemon.processor.clock()
        carried.append(rig.daemon.processor.carry_over((TOPIC, 1), [episode], now, {}))
        return False

    monkeypatch.setattr(rig.daemon, "_carry_over", carry_over)
    rig.run_until(1000.0)
    assert carried == [1]
    assert rig.member.at[P1] > 100
    assert rig.of("b", "resolved") == []
    assert rig.of("b", "open") == []  # carried on: no new episode either


def test_silence_on_a_busy_partition_never_caught_up_is_still_detected(fitted, monkeypatch):
    # Partition 0 is read at the rate its records come, always some records behind (never caught up
    # at a look); partition 1 carries nothing after its assets stop. Assets that stop sending on
    # either are resolved as silent and forgotten after quiet_s, give or take a look's period or two.
    rig = _Rig(fitted, monkeypatch)
    for _ in range(3 * BATCH):
        rig.member.write(P0, "load-0", normal(rig.rng, 1)[0])
    for n in range(BATCH):
        rig.sends(f"load-{n}", P0, 1.0)  # BATCH records a second: one poll's worth
    rig.sends("s", P0, 10.0, until=100.0)
    rig.sends("f", P0, 10.0, over=True, until=100.0)
    rig.sends("y", P1, 10.0, until=100.0)
    rig.sends("z", P1, 10.0, over=True, until=100.0)
    looks: list[int] = []
    look = rig.daemon._check_positions

    def counted(*, idle: bool = False) -> None:
        before = rig.daemon.positions.last_at
        look(idle=idle)
        if rig.daemon.positions.last_at != before:
            looks.append(len(rig.member.logs[P0]) - rig.member.at[P0])

    monkeypatch.setattr(rig.daemon, "_check_positions", counted)
    rig.run_until(90.0 + 300.0 - 5.0)  # their last readings came at 90 s
    assert rig.of("f", "resolved") == [] and rig.of("z", "resolved") == []
    assert rig.forgotten == {}
    rig.run_until(90.0 + 300.0 + 2 * rig.period_s + 5.0)
    assert looks and min(looks) >= BATCH  # partition 0 was never caught up when looked at
    for asset in ("f", "z"):
        ((_, resolved),) = rig.of(asset, "resolved")
        assert resolved["resolved_by"] == "silence"
    for asset in ("s", "f", "y", "z"):
        assert rig.forgotten_at(asset) is not None, asset
    assert rig.forgotten_at("load-3") is None


def test_only_delivered_records_count_as_read_and_a_partition_that_moves_starts_unknown(fitted, monkeypatch):
    rig = _Rig(fitted, monkeypatch)
    reads, looked_at = rig.daemon.read_through, rig.daemon.clock()
    for _ in range(5):
        rig.member.write(P1, "b", normal(rig.rng, 1)[0])
    reads.looked({P0: (0, 0), P1: (0, 5)}, now=looked_at)
    assert reads.until(P0, rig.daemon.clock()) == looked_at
    records = rig.member.poll(timeout_ms=0, max_records=BATCH)[P1]

    def refused(messages) -> None:
        raise DeliveryError("not acknowledged")

    monkeypatch.setattr(rig.daemon.delivery, "deliver", refused)
    with pytest.raises(DeliveryError):  # rewound and processed again: its alert state was undone
        rig.daemon._handle(records)
    assert reads.until(P1, rig.daemon.clock()) == -math.inf
    monkeypatch.setattr(rig.daemon.delivery, "deliver", rig._deliver)
    rig.daemon._handle(records)
    assert reads.until(P1, rig.daemon.clock()) == looked_at
    rig.member.write(P0, "a", normal(rig.rng, 1)[0])
    rig.daemon._handle(rig.member.poll(timeout_ms=0, max_records=BATCH)[P0])  # and committed
    rig.daemon._on_revoked({P0, P1}, lost=False)
    rig.member.held = {P0}
    rig.daemon._on_assigned({P0})
    rig.daemon._apply_rebalances()  # partition 1 went to another member: if it comes back, unknown
    assert reads.until(P1, rig.daemon.clock()) == -math.inf
    assert reads.until(P0, rig.daemon.clock()) == looked_at  # came back unchanged: kept, as its state
    assert set(rig.daemon.processor.trackers) == {(TOPIC, 0)}


def test_silence_is_still_judged_when_the_broker_will_not_say_its_end_offsets(fitted, monkeypatch, caplog):
    # A broker that serves fetches but never answers for its end offsets (a partition without a
    # leader fails the whole request, a timeout): no look ever came back, so no partition was ever
    # read through and not one asset was judged silent again, nor forgotten, for as long as it lasted.
    rig = _Rig(fitted, monkeypatch)
    answer = rig.member.end_offsets

    def unanswered(partitions, timeout_ms):
        raise KafkaTimeoutError("Failed to get offsets by timestamps")

    monkeypatch.setattr(rig.member, "end_offsets", unanswered)
    rig.sends("a", P0, 10.0)
    rig.sends("d", P1, 10.0, until=100.0)
    rig.sends("f", P1, 10.0, over=True, until=100.0)
    rig.run_until(1000.0)
    gone = rig.forgotten_at("d")  # its last reading came at 90 s; the looks failed from 30 s, and
    assert gone is not None and 90.0 + 300.0 <= gone <= 90.0 + 300.0 + rig.period_s + 5.0  # judged at them
    ((_, resolved),) = rig.of("f", "resolved")
    assert resolved["resolved_by"] == "silence"
    assert rig.forgotten_at("a") is None
    assert sum("no end offsets from the broker for 300s" in r.message for r in caplog.records) == 1
    monkeypatch.setattr(rig.member, "end_offsets", answer)  # answered again: judged as read once more
    rig.run_until(1000.0 + rig.period_s + 2.0)
    now = rig.daemon.clock()
    assert rig.daemon.read_through.until(P1, now) <= now - 2.0
