"""A producer closed with records its broker never took (:func:`pipeline.kafkaclients.close_producer`),
against kafka-python's own producer and a broker that went away: kafka-python's ``close`` raises then,
and leaves the producer open."""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from pipeline.broker import EmbeddedBroker
from pipeline.kafkaclients import close_producer


def test_a_producer_whose_broker_went_away_closes_within_its_timeout_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = EmbeddedBroker().start()
    try:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5)
        producer.send("close-test", b"delivered").get(timeout=30)
    finally:
        broker.stop()
    for _ in range(50):
        producer.send("close-test", b"never delivered")
    raised_later: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", raised_later.append)
    started = time.monotonic()
    error = close_producer(producer, 1.0)
    assert isinstance(error, KafkaTimeoutError)
    assert time.monotonic() - started < 4.0
    sender = producer._sender
    del producer
    gc.collect()
    # Closed: its network thread ended, and nothing raised from its __del__ (nor would its exit hook).
    sender.join(2.0)
    assert not sender.is_alive()
    assert raised_later == []
