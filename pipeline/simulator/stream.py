"""Stream a simulated fleet to Kafka: readings to the input topic, ground truth to its own topic.

Each tick advances the plant by ``speedup / ticks-per-second`` simulated seconds and produces one record
per asset (key = asset id), stamped with the wall-clock time it is sent, so the daemon's lag metrics mean
what they say. A fault's start and end go to the truth topic (``sensor-truth``) as separate events;
nothing about faults is ever put in a scored record.

Kafka not taking the records sent (its broker gone, a topic deleted, a write refused) is seen through
each send's future (:mod:`pipeline.simulator.deliveries`): said once when it starts, once when it ends,
and counted (:attr:`StreamStats.deliveries`). Its producer gives a send blocked on a topic's metadata
:data:`SEND_BLOCK_MS` (kafka-python's 60 s would hold the stream, and a stop, that long) and a record
the request timeout, its linger and a second (not kafka-python's 120 s) before failing it, so a
broker gone is said within about ``kafka.request_timeout_ms``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from pipeline.brokerlink import record_expiry_ms
from pipeline.kafkaclients import close_producer, closed_on_failure
from pipeline.simulator.deliveries import Deliveries, DeliveryWatch
from pipeline.simulator.faults import Fault
from pipeline.simulator.fleet import Fleet

__all__ = ["SEND_BLOCK_MS", "StreamStats", "truth_event", "stream_fleet"]

log = logging.getLogger(__name__)


@dataclass
class StreamStats:
    """Counters of a streaming run (read by the demo while it runs)."""

    records: int = 0
    truth_events: int = 0
    sim_seconds: float = 0.0
    started: list[Fault] = field(default_factory=list)
    deliveries: Deliveries = field(default_factory=Deliveries)  # records and truth events, taken or not


def truth_event(fault: Fault, state: str, ts: float, sim_t: float) -> dict[str, Any]:
    """The ground-truth message of a fault starting (``state="start"``), ending (``"end"``, with
    ``recovering`` true when its after-effect outlasts it) or, for such a fault, ``"recovered"``: every
    temperature of the asset back within the sensors' noise of its fault-free value."""
    return {"state": state, "ts": ts, "sim_t": sim_t, **fault.as_dict()}


FLUSH_S = 30.0  # how long a stopped stream waits for the broker to take the records it sent
SEND_BLOCK_MS = 10_000  # how long a send may wait for a topic's metadata (or room in the buffer)
LINGER_MS = 5
_REQUEST_TIMEOUT_MS = 30_000  # kafka-python's, when the options give none
_DRAW_S = 86_400.0  # faults are drawn this much simulated time at a time, this far ahead


def stream_fleet(
    fleet: Fleet,
    bootstrap_servers: str,
    *,
    topic: str = "sensor-readings",
    truth_topic: str = "sensor-truth",
    rate: float = 48.0,
    speedup: float = 10.0,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    stats: StreamStats | None = None,
    producer_options: dict[str, Any] | None = None,
    fault_rate: float = 0.0,
    flush_s: float = FLUSH_S,
) -> StreamStats:
    """Produce ``rate`` records per second (all assets in turn) until ``duration_s`` or ``stop``.

    ``speedup`` is simulated seconds per wall-clock second: 10 lives ten plant-minutes per minute.
    With ``fault_rate`` (faults per asset per simulated hour), faults are drawn a simulated day at a
    time, a day ahead, for as long as the stream runs, and those over are dropped from the fleet
    (``fleet.faults`` then holds the current and coming ones only); without it, the fleet's faults
    are the ones scheduled before. ``producer_options``: kafka-python's producer options over these
    defaults (a service's :func:`~pipeline.brokerlink.client_options`, its servers and security included).
    What Kafka does not take is counted in ``stats.deliveries`` and logged once when it starts and once
    when it ends; the caller says what to make of it.

    Once stopped it waits up to ``flush_s`` for the broker to take the records sent, and its producer
    closes within a second more. Raises kafka-python's error when Kafka fails it (its producer not
    made, a send refused), and :class:`~kafka.errors.KafkaTimeoutError` when the records sent were not
    all delivered by then; its producer is closed either way.
    """
    stop = stop or threading.Event()
    stats = stats or StreamStats()
    n = len(fleet.asset_ids)
    tick_s = n / rate
    dt = speedup * tick_s
    options = {"bootstrap_servers": bootstrap_servers, "linger_ms": LINGER_MS, "acks": 1}
    options |= {"max_block_ms": SEND_BLOCK_MS} | (producer_options or {})
    request_ms = options.get("request_timeout_ms", _REQUEST_TIMEOUT_MS)
    options.setdefault("delivery_timeout_ms", record_expiry_ms(request_ms, options["linger_ms"]))
    producer = closed_on_failure(KafkaProducer, **options)
    keys = [a.encode() for a in fleet.asset_ids]
    pending = sorted(fleet.faults, key=lambda f: f.onset)
    drawn_until = fleet.t
    running: list[Fault] = []
    cooling: list[Fault] = []  # ended, but the asset still shows the after-effect (a bearing cooling)
    deliveries = stats.deliveries
    watch = DeliveryWatch(
        deliveries, f"Kafka at {bootstrap_servers}", f"the records sent to {topic} and {truth_topic}"
    )
    began = time.monotonic()
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - began
            if duration_s is not None and elapsed >= duration_s:
                break
            if fault_rate > 0 and fleet.t + _DRAW_S > drawn_until:
                new = fleet.schedule(start=drawn_until, until=drawn_until + _DRAW_S, rate_per_hour=fault_rate)
                pending = sorted(pending + new, key=lambda f: f.onset)
                drawn_until += _DRAW_S
                fleet.faults = [f for f in fleet.faults if f.end > fleet.t]  # over: their truth is sent
            sim_t, readings = fleet.step(dt)
            now = time.time()
            while pending and pending[0].onset <= sim_t:
                fault = pending.pop(0)
                running.append(fault)
                stats.started.append(fault)
                _send_truth(producer, truth_topic, truth_event(fault, "start", now, sim_t), stats)
            for fault in [f for f in running if f.end <= sim_t]:
                running.remove(fault)
                event = truth_event(fault, "end", now, sim_t)
                event["recovering"] = bool(fleet.after_effect[fault.asset])
                if event["recovering"]:
                    cooling.append(fault)
                _send_truth(producer, truth_topic, event, stats)
            for fault in [f for f in cooling if not fleet.after_effect[f.asset]]:
                cooling.remove(fault)
                _send_truth(producer, truth_topic, truth_event(fault, "recovered", now, sim_t), stats)
            for key, (asset, values) in zip(keys, fleet.records(readings), strict=True):
                record = {"asset_id": asset, "ts": now, "values": values}
                deliveries.track(producer.send(topic, key=key, value=orjson.dumps(record)))
            stats.records += n
            watch.check()
            stats.sim_seconds += dt
            pause = began + stats.records / rate - time.monotonic()
            if pause > 0:
                stop.wait(pause)
    except BaseException:
        close_producer(producer, 0.0)
        raise
    if (left := close_producer(producer, flush_s)) is not None:
        raise KafkaTimeoutError(
            f"the records sent to {topic} and {truth_topic} were not all delivered within {flush_s:g} s of "
            f"the stop: {deliveries.delivered} of the {deliveries.sent} delivered ({left})"
        )
    return stats


def _send_truth(producer: KafkaProducer, topic: str, event: dict[str, Any], stats: StreamStats) -> None:
    stats.deliveries.track(producer.send(topic, key=event["asset_id"].encode(), value=orjson.dumps(event)))
    stats.truth_events += 1
    log.debug("fault %s on %s: %s", event["kind"], event["asset_id"], event["state"])
