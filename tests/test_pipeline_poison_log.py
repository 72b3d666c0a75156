"""Records the processor raises on, all day: isolated and counted, their tracebacks in the log a few
times an hour, not once per record and per batch, and each costing its batch a few passes, not one per
record."""

from __future__ import annotations

import logging
from collections import namedtuple

import numpy as np
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.poison import process_guarded
from pipeline.processing import BatchProcessor
from pipeline.records import RecordParser

Rec = namedtuple("Rec", "topic partition offset key value")


def test_a_stream_of_records_that_raise_logs_a_traceback_a_minute_and_counts_every_one(
    fitted, monkeypatch, caplog
) -> None:
    # Before, every such record logged its traceback, and so did every batch holding one: a gateway
    # sending one such record in four (below the DLQ ratio cap, so the service goes on) wrote two
    # tracebacks per batch, hundreds of thousands a day, drowning every other line of the log.
    parse = RecordParser.parse

    def fragile(self, raws, **kw):  # noqa: ANN001, ANN003, ANN202 - the wrapped method's signature
        if any(b"boom" in (raw or b"") for raw in raws):
            raise RuntimeError("unforeseen")
        return parse(self, raws, **kw)

    monkeypatch.setattr(RecordParser, "parse", fragile)
    clock = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    reg = CollectorRegistry()
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(reg))
    rows = normal(np.random.default_rng(4), 3)
    offset = 0
    with caplog.at_level(logging.INFO):
        for batch in range(200):  # one batch a second for 200 s
            recs = [Rec("in", 0, offset + i, b"a", reading("a", float(batch), rows[i])) for i in range(3)]
            recs.append(Rec("in", 0, offset + 3, b"b", b'{"boom": 1}'))
            offset += 4
            out = process_guarded(proc, recs, now=float(batch))
            assert (out.scored, out.dead_lettered) == (3, 1)
            clock[0] += 1.0
    tracebacks = [r for r in caplog.records if r.exc_info]
    # 200 s: a traceback of the batch and one of the record in each of its four minutes at most
    assert 2 <= len(tracebacks) <= 8, len(tracebacks)
    assert "RuntimeError: unforeseen" in caplog.text
    assert "held back" in caplog.text  # the lines left out are counted on the next one
    assert reg.get_sample_value("dhag_dlq_records_total", {"reason": "processing_error"}) == 200


def test_a_record_that_raises_costs_its_batch_a_few_passes_not_one_per_record(fitted, monkeypatch) -> None:
    # Before, the batch was processed again one record at a time: a batch of 5,000 records with one
    # such record took 18 s instead of 0.2 s, so that one in 5,000 cut the daemon to some 300 records a
    # second, and the lag of a busier plant grew for as long as they came.
    parse, process = RecordParser.parse, BatchProcessor.process
    passes = []

    def fragile(self, raws, **kw):  # noqa: ANN001, ANN003, ANN202 - the wrapped method's signature
        if any(b"boom" in (raw or b"") for raw in raws):
            raise RuntimeError("unforeseen")
        return parse(self, raws, **kw)

    def counted(self, records, **kw):  # noqa: ANN001, ANN003, ANN202
        passes.append(len(records))
        return process(self, records, **kw)

    monkeypatch.setattr(RecordParser, "parse", fragile)
    monkeypatch.setattr(BatchProcessor, "process", counted)
    reg = CollectorRegistry()
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(reg))
    rows = normal(np.random.default_rng(5), 2000)
    recs = [Rec("in", i % 2, i, b"a", reading("a", float(i), row)) for i, row in enumerate(rows)]
    recs[1234] = Rec("in", 0, 1234, b"b", b'{"boom": 1}')
    out = process_guarded(proc, recs, now=0.0)
    assert (out.scored, out.dead_lettered) == (1999, 1)
    assert out.offsets == {("in", 0): 1999, ("in", 1): 2000}
    (dlq,) = [m for m in out.messages if m.topic == "sensor-readings.dlq"]
    assert dict(dlq.headers)["dlq.source.offset"] == b"1234"
    assert len(passes) <= 25 and sum(passes) <= 3 * len(recs), passes[:30]
    assert reg.get_sample_value("dhag_records_processed_total", {"outcome": "ok"}) == 1999
    assert reg.get_sample_value("dhag_records_consumed_total") == 2000
