"""The reference sample's file beside each version: a value JSON cannot hold, another layout, and a file
that decompresses or nests past the limits (the sample's content: test_pipeline_retrain_samples.py)."""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from dhag import DHAG
from pipeline import reference
from pipeline import registry as reg
from pipeline.errors import ModelUnavailableError
from pipeline.reference import read_reference
from pipeline.retrain.featuremap import FeatureMap


def _strict(word: str) -> None:
    raise ValueError(f"not strict JSON: {word}")


def test_a_reference_reading_with_a_value_that_is_no_number_is_written_without_it(
    fitted: DHAG, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # json.dumps wrote NaN and Infinity as bare words, which no strict JSON reader takes; a null (None)
    # value made the publication fail. Such a sensor counts as missing, as the daemon and the normal
    # sample read it, and a reading with no time to order it by is left out.
    root = tmp_path / "registry"
    whole = {"flow_a": 1.0, "flow_b": 2.0, "flow_total": 3.0, "vibration": 0.5}
    rows = [
        ("p1", 10.0, whole),
        ("p1", 20.0, whole | {"flow_a": float("nan")}),
        ("p2", 30.0, {"flow_a": float("inf"), "flow_b": -float("inf")}),
        ("p2", 40.0, whole | {"flow_a": None, "flow_b": np.float32("nan"), "vibration": np.float32(3.5)}),
        ("p3", float("nan"), whole),
        ("p3", float("inf"), whole),
    ]
    with caplog.at_level("WARNING", logger="pipeline.registry"):
        reg.publish(root, fitted, "v1", reference=rows)
    blob = (root / "v1.reference.json.gz").read_bytes()
    written = json.loads(gzip.decompress(blob), parse_constant=_strict)
    partial = {"flow_total": 3.0, "vibration": 3.5}
    expected = [
        ("p1", 10.0, whole),
        ("p1", 20.0, {"flow_b": 2.0, "flow_total": 3.0, "vibration": 0.5}),
        ("p2", 30.0, {}),
        ("p2", 40.0, partial),
    ]
    assert written["readings"] == [list(r) for r in expected]
    assert reg.load_reference(root, "v1") == expected
    warned = [r.getMessage() for r in caplog.records if "reference sample" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "3 reading(s)" in warned[0] and "2 reading(s)" in warned[0], warned[0]
    # What the retrainer makes of the readings is unchanged: a model needing the sensor leaves them out.
    _, kept = FeatureMap.of(fitted).matrix([(a, v) for a, _, v in reg.load_reference(root, "v1")])
    assert kept.tolist() == [True, False, False, False]


def test_a_reference_sample_written_with_bare_nan_reads_back_without_it(fitted: DHAG, tmp_path: Path) -> None:
    # A sample published before its numbers were checked (and before samples were digested) may hold
    # NaN, which Python's json module reads: it reads back as the sample published now would hold it.
    root = tmp_path / "registry"
    reg.publish(root, fitted, "v1")
    readings = '[["p1", 5.0, {"flow_a": NaN, "flow_b": 1.0}], ["p1", NaN, {"flow_a": 1.0}], ["p1", 1.0, {}]]'
    payload = '{"schema": 1, "version": "v1", "readings": ' + readings + "}"
    (root / "v1.reference.json.gz").write_bytes(gzip.compress(payload.encode()))
    assert reg.load_reference(root, "v1") == [("p1", 1.0, {}), ("p1", 5.0, {"flow_b": 1.0})]


@pytest.mark.parametrize("schema", [2, None, "1"])
def test_a_reference_sample_of_another_layout_is_refused_naming_it(tmp_path: Path, schema: object) -> None:
    # Before: read as layout 1 whatever its "schema" said, so a sample a later release wrote in another
    # layout, met after a rollback, was misread rather than refused.
    path = tmp_path / "v1.reference.json.gz"
    data: dict = {"version": "v1", "readings": [["p1", 1.0, {"flow_a": 1.0}]]}
    if schema is not None:
        data["schema"] = schema
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ModelUnavailableError, match=r"layout .*this version reads layout 1"):
        read_reference(path, "v1", None)


def _read_in_thread(path: Path, version: str, expected: str | None) -> object:
    """What read_reference returns or raises, or "blocked" when it has not returned within 10 s."""
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(read_reference(path, version, expected))
        except Exception as exc:  # noqa: BLE001 - the test inspects what it raised
            outcome.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(10)
    return outcome[0] if outcome else "blocked"


def test_a_reference_sample_that_decompresses_past_the_limit_or_nests_deep_is_refused(
    tmp_path: Path, monkeypatch
) -> None:
    # A sample a model records no digest of (published before samples were digested; or anyone's, where
    # no DHAG_ARTIFACT_KEY signs the models) was decompressed whole: a few KB of gzip can hold gigabytes,
    # the retrainer killed for its memory; JSON nested too deep escaped as a RecursionError; a FIFO
    # put at its name blocked the retrainer for ever.
    monkeypatch.setattr(reference, "MAX_SAMPLE_BYTES", 1 << 20)
    path = tmp_path / "v1.reference.json.gz"
    rows = ",".join(['["p1", 1.0, {"flow_a": 1.0}]'] * 50_000)  # 1.4 MB of JSON, 10 KB compressed
    path.write_bytes(gzip.compress(f'{{"schema": 1, "version": "v1", "readings": [{rows}]}}'.encode()))
    assert path.stat().st_size < 1 << 20
    refused = _read_in_thread(path, "v1", None)
    assert isinstance(refused, ModelUnavailableError) and "over the limit of 1048576 bytes" in str(refused)
    path.write_bytes(gzip.compress(b'{"schema": 1, "version": "v1", "readings": ' + b"[" * 100_000))
    refused = _read_in_thread(path, "v1", None)
    assert isinstance(refused, ModelUnavailableError) and "nested too deeply" in str(refused), refused
    path.unlink()
    os.mkfifo(path)
    refused = _read_in_thread(path, "v1", None)
    assert isinstance(refused, ModelUnavailableError) and "not a regular file" in str(refused), refused
    monkeypatch.undo()
    path.unlink()
    reference.write_reference(path, "v1", [("p1", 1.0, {"flow_a": 1.0})])
    assert _read_in_thread(path, "v1", None) == [("p1", 1.0, {"flow_a": 1.0})]


def test_a_reference_sample_too_large_to_be_read_back_is_not_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(reference, "MAX_SAMPLE_BYTES", 1 << 10)
    path = tmp_path / "v1.reference.json.gz"
    with pytest.raises(ValueError, match="over the limit of 1024 bytes"):
        reference.write_reference(path, "v1", [("p1", float(t), {"flow_a": 1.0}) for t in range(100)])
    assert not path.exists()
