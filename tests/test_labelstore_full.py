"""The label store on a volume that refuses its writes: SQLite's own full database (SQLITE_FULL, made
real here with ``max_page_count``) and a write past a quota or a file size limit (which SQLite reports
as "disk I/O error"). Nothing committed is lost, no Kafka offset passes what the store did not keep,
the retrainer stops naming the store and what to do, and once there is space it goes on where it was."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer
from pipeline.retrain.storepositions import positions

ROOT = Path(__file__).resolve().parents[1]
LABELS, READINGS = TopicPartition("operator-labels", 0), TopicPartition("sensor-readings", 0)


class _Consumer:
    def __init__(self) -> None:
        self.batch: dict = {}
        self.commits: list[dict] = []

    def poll(self, timeout_ms: int = 0) -> dict:
        batch, self.batch = self.batch, {}
        return batch

    def commit(self, offsets: dict) -> None:
        self.commits.append({(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()})


class _Producer:
    def flush(self, timeout: float | None = None) -> None:
        pass


def _label(offset: int, ts: float) -> SimpleNamespace:
    value = {"asset_id": "p1", "ts": ts, "values": {"x": 1.0}, "label": "normal", "operator": "kim"}
    return SimpleNamespace(
        topic=LABELS.topic, partition=0, offset=offset, key=b"p1", value=json.dumps(value).encode()
    )


def _retrainer(store: LabelStore) -> Retrainer:
    retrainer = Retrainer(
        Settings(), store, RetrainMetrics(CollectorRegistry()), bootstrap_servers="x:1", clock=lambda: 1e9
    )
    retrainer._current_model = lambda **_: None  # type: ignore[method-assign]
    return retrainer


def _cap(store: LabelStore, spare_pages: int) -> None:
    """Let the store's database grow by ``spare_pages`` pages at most (SQLITE_FULL beyond)."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages + spare_pages}")


def test_a_poll_the_full_store_cannot_keep_commits_no_offset_and_loses_nothing_kept_before(
    tmp_path: Path,
) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    retrainer, consumer = _retrainer(store), _Consumer()
    consumer.batch = {LABELS: [_label(0, 100.0)]}
    retrainer._poll(consumer, _Producer())  # type: ignore[arg-type]
    assert consumer.commits == [{("operator-labels", 0): 1}] and store.label_count() == 1
    _cap(store, 0)
    consumer.batch = {LABELS: [_label(offset, 100.0 + offset) for offset in range(1, 400)]}
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        retrainer._poll(consumer, _Producer())  # type: ignore[arg-type]
    # SQLite rolled the poll's transaction back: neither its labels nor its positions were kept, and
    # the Kafka offsets stay where the store is, so the labels are read again.
    assert consumer.commits == [{("operator-labels", 0): 1}]
    assert store.label_count() == 1 and positions(store) == {"operator-labels/0": 1}
    store.close()
    # Space again: a new retrainer on the same store reads the same records and keeps them all.
    store = LabelStore(tmp_path / "labels.sqlite")
    retrainer, consumer = _retrainer(store), _Consumer()
    consumer.batch = {LABELS: [_label(offset, 100.0 + offset) for offset in range(1, 400)]}
    retrainer._poll(consumer, _Producer())  # type: ignore[arg-type]
    assert store.label_count() == 400 and positions(store) == {"operator-labels/0": 400}
    store.close()


def _over_size_limit(store: Path, limit: int) -> subprocess.CompletedProcess[str]:
    """Write to the store at ``store`` in a Python whose files may grow to ``limit`` bytes (SIGXFSZ
    ignored: a write past it fails with EFBIG, as one past a quota fails with EDQUOT)."""
    code = textwrap.dedent(
        f"""
        import resource, signal, sqlite3
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        from pipeline.labelstore import LabelStore
        store = LabelStore({str(store)!r})
        try:
            for i in range(5000):
                store.set_state(f"k{{i}}", "x" * 1000)
            store.commit()
        except sqlite3.Error as exc:
            print(exc)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_a_write_past_a_quota_is_an_io_error_that_leaves_the_store_whole(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    store = LabelStore(path)
    store.set_state("kept", "yes")
    store.commit()
    store.close()
    done = _over_size_limit(path, 200_000)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "disk I/O error"  # what SQLite says of EDQUOT and EFBIG
    store = LabelStore(path)  # nothing to repair once the volume takes writes again
    assert store.get_state("kept") == "yes" and store.get_state("k0") is None
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.set_state("after", "yes")
    store.commit()
    store.close()


def test_a_store_refused_by_its_volume_is_not_called_damaged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.retrain.command import EXIT_STORE, run_retrain

    def over_quota(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("pipeline.labelstore.LabelStore.__init__", over_quota)
    settings = Settings.model_validate(
        {
            "model": {"registry": str(tmp_path)},
            "metrics": {"enabled": False},
            "kafka": {"bootstrap_servers": "k:9092"},
        }
    )
    assert run_retrain(settings, once=True) == EXIT_STORE
    assert "cannot be used: disk I/O error" in caplog.text
    # Before, the advice was a damaged store's: move it aside and put a backup (or nothing) in its
    # place, which throws away a whole store over a full quota.
    assert "its volume first" in caplog.text and "quota" in caplog.text
    assert (
        "Only if the store itself stays unreadable" in caplog.text
    )  # the store is moved aside only once the volume is ruled out
