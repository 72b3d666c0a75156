"""A record the processor did not foresee must not stop the service.

:meth:`BatchProcessor.process <pipeline.processing.BatchProcessor.process>` sends every record that
breaks the contract to the dead-letter topic with its reason. Should it still raise on some record
(a case no check foresaw), the daemon would stop; its offset never committed, the restarted daemon
would meet the same record and stop again, and the plant would go unwatched. :func:`process_guarded`
processes such a batch again in halves, each half that raises in halves again, down to the record that
raises, and dead-letters it with
reason ``processing_error`` and the exception as its detail, logged with its traceback: once a minute
per exception type, with a count of the lines held back (a gateway that keeps sending such records would
otherwise write a traceback per record and per batch). In halves, a batch of 5,000 records with one
such record takes some five times as long as without it; one record at a time, it took 80 times as
long. The DLQ ratio cap still pauses the service if most records fail this way (a fault of the service,
not of the data).

What the failed attempt changed is undone (:meth:`BatchProcessor.rollback
<pipeline.processing.BatchProcessor.rollback>`): its alert state, so an episode it opened opens again,
with its event, when the records are processed again, and its metric counts and the DLQ ratio cap's
window, so no record is counted twice in them (:mod:`pipeline.heldcounts`).
Records are counted as consumed here, once per poll of them, and like every count of the batch only
once its output is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pipeline.batchoutput import BatchOutput
from pipeline.processing import BatchProcessor
from pipeline.records import PROCESSING_ERROR, KafkaTime

__all__ = ["PROCESSING_ERROR", "process_guarded"]


def process_guarded(
    processor: BatchProcessor,
    records: Sequence[Any],
    now: float | None = None,
    *,
    count: bool = True,
    kafka_time: KafkaTime | None = None,
) -> BatchOutput:
    """``processor.process(records)``, counted as consumed (unless ``count`` is False); on an exception,
    each half of them so, down to the records that raise alone, which are dead-lettered (see the
    module). Each part is judged by the whole batch's Kafka record time (``kafka_time``), as it was in
    the batch."""
    kafka_time = KafkaTime(records) if kafka_time is None else kafka_time
    if count:
        processor.counts.add(processor.metrics.records_consumed.inc, len(records))
    point = processor.savepoint()
    try:
        out = processor.process(records, now=now, kafka_time=kafka_time)
    except Exception as exc:  # noqa: BLE001 - any failure of one record: isolate it, never stop
        # Undo the alert state the failed attempt changed, so that processing again yields its events.
        processor.rollback(point)
        if len(records) == 1:
            rec = records[0]
            processor.raised_log.log(
                f"record {type(exc).__qualname__}",
                logging.ERROR,
                "dead-lettering %s[%d]@%d: processing it raised",
                *(rec.topic, rec.partition, rec.offset),
                exc_info=True,
            )
            return processor.unprocessable(rec, PROCESSING_ERROR, f"{type(exc).__name__}: {exc}"[:500])
        processor.raised_log.log(
            f"batch {type(exc).__qualname__}",
            logging.ERROR,
            "a batch of %d records raised; processing it again in halves, to the record that raises",
            len(records),
            exc_info=True,
        )
    else:
        processor.release(point)
        return out
    out, half = BatchOutput(), len(records) // 2
    for part in (records[:half], records[half:]):
        out.add(process_guarded(processor, part, now, count=False, kafka_time=kafka_time))
    return out
