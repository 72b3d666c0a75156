"""A label by reading names the reading by its ``ts``: where the plant's readings may lie further ahead
than five minutes (``records.max_future_s``), the daemon alerts on them, and a label of such a reading is
taken, not dead-lettered for a ``ts`` in the future. Times that rank labels (``labelled_at``, a label
by id's ``ts``) stay held to five minutes: one dated ahead would outrank every correction until then."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from labels_support import open_alert
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labels import LabelError, parse_label
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer

NOW = 1_800_000_000.0
AHEAD = NOW + 1800.0  # a gateway half an hour ahead, within records.max_future_s = 3600


def _by_reading(**fields: object) -> bytes:
    label = {"asset_id": "p1", "ts": AHEAD, "values": {"x": 1.0}, "label": "normal", "operator": "kim"}
    return orjson.dumps(label | fields)


def test_a_readings_ts_is_held_to_the_readings_limit() -> None:
    assert parse_label(_by_reading(), now=NOW, max_future_s=3600.0).ts == AHEAD
    assert parse_label(_by_reading(), now=NOW, max_future_s=None).ts == AHEAD  # no limit
    with pytest.raises(LabelError, match="ts lies 1800 s in the future"):
        parse_label(_by_reading(), now=NOW)  # the default: five minutes, as records.max_future_s's
    with pytest.raises(LabelError, match="ts lies 1800 s in the future"):
        parse_label(_by_reading(ts=AHEAD), now=NOW, max_future_s=600.0)


def test_times_that_rank_labels_stay_held_to_five_minutes() -> None:
    with pytest.raises(LabelError, match="labelled_at lies 1800 s in the future"):
        parse_label(_by_reading(labelled_at=AHEAD), now=NOW, max_future_s=None)
    by_id = orjson.dumps({"alert_id": "a1", "label": "normal", "operator": "kim", "ts": AHEAD})
    with pytest.raises(LabelError, match="ts lies 1800 s in the future"):
        parse_label(by_id, now=NOW, max_future_s=None)


def test_the_retrainer_takes_a_label_of_a_reading_its_alert_opened_on_ahead(tmp_path: Path) -> None:
    # Before: dead-lettered as bad_value ("ts lies 1800 s in the future"), though the daemon took the
    # reading and alerted on it.
    settings = Settings.model_validate(
        {
            "model": {"registry": str(tmp_path)},
            "records": {"max_future_s": 3600.0},
            "retrain": {"on_drift": False},
        }
    )
    store = LabelStore(":memory:")
    store.add_alert(open_alert("a1", AHEAD, {"x": 1.0, "y": 2.0}))
    retrainer = Retrainer(
        settings, store, RetrainMetrics(CollectorRegistry()), bootstrap_servers="unused:9092"
    )
    retrainer.clock = lambda: NOW
    sent: list[str] = []
    retrainer._dead_letters = SimpleNamespace(send=lambda *args, **_: sent.append(args[4]))
    message = SimpleNamespace(topic="labels", partition=1, offset=0, key=b"p1", value=_by_reading())
    retrainer._labels([message], producer=None)
    assert sent == []
    assert [(r.alert_id, r.y) for r in store.latest_labels()] == [("a1", 0)]
