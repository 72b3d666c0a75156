"""A group join that does not end: the daemon's loop runs against a fake group member on a fake clock
(:mod:`test_pipeline_backlog_silence`); once a join begins, polls return nothing until the group
answers, or never. A join that lasts longer than twice ``kafka.max_poll_interval_ms`` and a request
gets a new consumer, and one that keeps failing ends the run as a Kafka outage does; a slow join that
ends within it, or a rebalance storm whose joins end, changes nothing."""

from __future__ import annotations

import logging

import pytest
from test_pipeline_backlog_silence import P0, P1, _Rig

from pipeline import brokerlink
from pipeline.daemon import Daemon
from pipeline.errors import BrokerUnavailableError
from pipeline.probes import NotReady
from pipeline.stalls import join_limit_s


class _Group:
    """The group's side of the rig's member. :meth:`begin` starts a join (a revoke; a new consumer's
    subscribe starts one too); polls return nothing while it lasts, and the group answers (assigns what
    the member held) after the next of ``answers`` seconds (None: never; when they run out: at once).
    With ``storm_every``, a join begins that often while none is under way."""

    def __init__(self, rig: _Rig, monkeypatch, answers: list[float | None], storm_every: float = 0.0):
        self.rig, self.answers, self.storm_every = rig, list(answers), storm_every
        self.since: float | None = None  # the join under way began (None: none)
        self.answer_in: float | None = None
        self.last_begun = rig.clock[0]
        self.replaced: list[float] = []  # when the daemon replaced its consumer
        self.ready_after: list[list[NotReady] | None] = []  # /ready's reasons after each replacement
        poll, daemon = rig.member.poll, rig.daemon

        def polled(timeout_ms: int, max_records: int) -> dict:
            now = rig.clock[0]
            if self.since is None and self.storm_every and now - self.last_begun >= self.storm_every:
                self.begin()
            if self.since is not None and self.answer_in is not None and now - self.since >= self.answer_in:
                self.since = None
                daemon._on_assigned(set(rig.member.held))
            if self.since is None:
                return poll(timeout_ms=timeout_ms, max_records=max_records)
            rig.clock[0] += 1.0
            rig._plant(rig.clock[0])
            return {}

        def restart() -> None:
            self.replaced.append(rig.clock[0])
            Daemon._restart_consumer(daemon)
            self.ready_after.append(daemon.not_ready())

        monkeypatch.setattr(rig.member, "poll", polled)
        subscribe = lambda topics, listener: self.begin(revoke=False)  # noqa: E731 - a new consumer joins
        monkeypatch.setattr(rig.member, "subscribe", subscribe, raising=False)
        monkeypatch.setattr(rig.member, "close", lambda autocommit, timeout_ms: None, raising=False)
        monkeypatch.setattr(daemon, "_new_consumer", lambda: rig.member)
        monkeypatch.setattr(daemon, "_restart_consumer", restart)
        monkeypatch.setattr(daemon.health._backoff, "next_delay", lambda: 0.0)  # no real sleeps

    def begin(self, *, revoke: bool = True) -> None:
        self.since = self.last_begun = self.rig.clock[0]
        self.answer_in = self.answers.pop(0) if self.answers else 0.0
        if revoke:
            self.rig.daemon._on_revoked(set(self.rig.member.held), lost=False)


def _rig(fitted, monkeypatch) -> _Rig:
    rig = _Rig(fitted, monkeypatch)
    rig.sends("a", P0, 10.0)
    rig.sends("b", P1, 10.0)
    rig.run_until(120.0)
    return rig


def test_a_join_that_never_ends_gets_a_new_consumer_and_then_ends_the_run(fitted, monkeypatch, caplog):
    # The group revoked every partition and never answered: while the join lasted no look was made,
    # so no stall was judged and nothing ended the run; the daemon read nothing, for ever.
    rig = _rig(fitted, monkeypatch)
    group = _Group(rig, monkeypatch, answers=[None, None, None, None])
    limit_s, exit_s = join_limit_s(rig.daemon.kafka), rig.daemon.kafka.unavailable_exit_s
    assert limit_s == 2 * 30 + 30
    group.begin()
    began = rig.clock[0]
    caplog.set_level(logging.ERROR, logger="pipeline.daemon")
    with pytest.raises(BrokerUnavailableError) as ended:
        rig.run_until(began - rig.started + limit_s + exit_s + 200.0)
    assert group.replaced, "a join that never ended got no new consumer"
    first = group.replaced[0]
    assert limit_s < first - began <= limit_s + 2.0
    assert "joining the consumer group" in caplog.text and f"{first - began:.0f}s" in caplog.text
    assert ("consumer group", "join failing") in [(r.check, r.state) for r in group.ready_after[0] or []]
    # The new consumer's join gets a limit of its own (a second replacement at twice the limit); the
    # outage counts from the first failure, and the idle connection check (polls work) does not end it.
    assert len(group.replaced) == 2 and limit_s < group.replaced[1] - first <= limit_s + 2.0
    assert exit_s <= rig.clock[0] - first <= exit_s + 2.0
    assert "join" in str(ended.value)
    assert rig.daemon.metrics.broker_failures.labels("join")._value.get() == len(group.replaced)


def test_a_join_answered_after_a_replacement_ends_the_outage(fitted, monkeypatch):
    rig = _rig(fitted, monkeypatch)
    group = _Group(rig, monkeypatch, answers=[None, 20.0])
    read = dict(rig.member.at)
    group.begin()
    began = rig.clock[0]
    rig.run_until(began - rig.started + join_limit_s(rig.daemon.kafka) + 300.0)
    assert len(group.replaced) == 1
    rig.daemon._stop.clear()  # (the rig stops the loop at its end)
    assert rig.daemon.health.failing_since is None and rig.daemon.not_ready() is None
    assert rig.daemon.metrics.broker_connected._value.get() == 1
    assert all(rig.member.at[tp] > read[tp] for tp in (P0, P1))  # reading again


def test_slow_joins_that_end_within_the_limit_change_nothing(fitted, monkeypatch):
    rig = _rig(fitted, monkeypatch)
    limit_s = join_limit_s(rig.daemon.kafka)
    group = _Group(rig, monkeypatch, answers=[limit_s - 5.0, limit_s - 5.0])
    group.begin()
    read = dict(rig.member.at)
    rig.run_until(rig.clock[0] - rig.started + limit_s - 3.0)
    group.begin()  # a second slow join right after the first: together longer than the limit
    rig.run_until(rig.clock[0] - rig.started + limit_s + 60.0)
    assert group.replaced == []
    assert rig.daemon.health.failing_since is None
    assert rig.daemon.metrics.broker_failures.labels("join")._value.get() == 0
    assert all(rig.member.at[tp] > read[tp] for tp in (P0, P1))


def test_a_rebalance_storm_whose_joins_end_is_no_failed_join(fitted, monkeypatch):
    rig = _rig(fitted, monkeypatch)
    group = _Group(rig, monkeypatch, answers=[4.0] * 1000, storm_every=8.0)
    rig.run_until(120.0 + 10 * join_limit_s(rig.daemon.kafka))
    assert len(group.answers) < 1000 - 50  # the storm went on
    assert group.replaced == [] and rig.daemon.health.failing_since is None


def test_a_join_under_way_while_no_broker_is_reachable_is_left_to_that_outage(fitted, monkeypatch):
    # Nothing to join with: a new consumer cannot help, and the outage ends the run on its own time.
    rig = _rig(fitted, monkeypatch)
    group = _Group(rig, monkeypatch, answers=[None])
    monkeypatch.setattr(brokerlink, "connected", lambda consumer: False)
    group.begin()
    began = rig.clock[0]
    with pytest.raises(BrokerUnavailableError) as ended:
        rig.run_until(began - rig.started + 400.0)
    assert group.replaced == []
    assert "consume" in str(ended.value)
    assert rig.clock[0] - began <= rig.daemon.kafka.unavailable_exit_s + 2.0


def test_a_join_that_does_not_end_leaves_the_brokers_counted_reachable(fitted, monkeypatch):
    # A failed join set dhag_broker_connected to 0 like any failure, so DhagKafkaUnreachable (critical:
    # "retrying its Kafka connection") paged a minute into a join whose brokers answered throughout;
    # DhagConsumerReplaced is the alert for it. A connection outage during the join still counts.
    rig = _rig(fitted, monkeypatch)
    group = _Group(rig, monkeypatch, answers=[None, None])
    connected_after: list[float] = []
    restart = rig.daemon._restart_consumer

    def replaced() -> None:
        restart()
        connected_after.append(rig.daemon.metrics.broker_connected._value.get())

    monkeypatch.setattr(rig.daemon, "_restart_consumer", replaced)
    group.begin()
    began = rig.clock[0]
    rig.run_until(began - rig.started + join_limit_s(rig.daemon.kafka) + 10.0)
    assert len(group.replaced) == 1 and rig.daemon.health.failing("join")
    assert connected_after == [1] and rig.daemon.metrics.broker_connected._value.get() == 1
    # The brokers lost meanwhile, then back: reachable again, while the join still fails.
    health = rig.daemon.health
    rig.daemon._stop.clear()  # (the rig stops the loop at its end)
    health.failure("connection", ConnectionError("no connection to any broker"))
    assert rig.daemon.metrics.broker_connected._value.get() == 0
    # /ready says so too (DhagKafkaUnreachable follows), not only that the join fails.
    said = [(reason.check, reason.state) for reason in rig.daemon.not_ready() or []]
    assert said == [("kafka", "failing"), ("consumer group", "join failing")], said
    health.success("consume")
    assert rig.daemon.metrics.broker_connected._value.get() == 1 and health.failing("join")
    said = [(reason.check, reason.state) for reason in rig.daemon.not_ready() or []]
    assert said == [("consumer group", "join failing")], said


def test_a_join_under_way_through_a_broker_outage_gets_its_time_once_the_brokers_are_back(
    fitted, monkeypatch
):
    # The join's time counted on through the outage: the brokers back after 100 s, the join (which
    # cannot progress without them) had already lasted longer than its limit, and the consumer was
    # replaced at the first look after the reconnection, a join that would have ended 30 s later.
    rig = _rig(fitted, monkeypatch)
    limit_s = join_limit_s(rig.daemon.kafka)
    outage_s = limit_s + 10.0
    assert outage_s < rig.daemon.kafka.unavailable_exit_s
    group = _Group(rig, monkeypatch, answers=[outage_s + 30.0])
    group.begin()
    began = rig.clock[0]
    monkeypatch.setattr(brokerlink, "connected", lambda consumer: rig.clock[0] - began >= outage_s)
    read = dict(rig.member.at)
    rig.run_until(began - rig.started + outage_s + 120.0)
    assert group.replaced == []
    assert rig.daemon.metrics.broker_failures.labels("join")._value.get() == 0
    assert rig.daemon.health.failing_since is None
    assert all(rig.member.at[tp] > read[tp] for tp in (P0, P1))


def test_a_join_that_never_ends_is_judged_although_the_brokers_keep_dropping_out(fitted, monkeypatch):
    # Each time the connection check found no broker, the join's time started again from the outage's
    # end: brokers that dropped out for a couple of seconds every ten kept a join the group never
    # answered from ever being judged (nor did the outages, each shorter than kafka.unavailable_exit_s,
    # end the run): the daemon read nothing, for ever. Only the time without a broker is left out.
    rig = _rig(fitted, monkeypatch)
    limit_s = join_limit_s(rig.daemon.kafka)
    group = _Group(rig, monkeypatch, answers=[None, None, None, None])
    group.begin()
    began = rig.clock[0]
    monkeypatch.setattr(brokerlink, "connected", lambda consumer: (rig.clock[0] - began) % 10.0 >= 2.0)
    with pytest.raises(BrokerUnavailableError):
        rig.run_until(began - rig.started + 1200.0)
    assert group.replaced, "a join that never ended was never judged"
    assert limit_s < group.replaced[0] - began <= limit_s * 10.0 / 8.0 + 12.0
