"""``dhag-pipeline alerts --asset A`` that lists nothing says why: the asset has episodes on the alerts
topic that the other options leave out (exit 0, its empty list), or none at all, in which case it is
refused (exit 2, nothing listed) naming the asset ids that do have some and look like it: a typo such as
pump-7 for pump-07 read as an asset without alerts, exit 0, before."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.config import Settings

EPISODES = [
    Episode("a1", "pump-07", 1.8e9, 0.9, "v1", ["flow"], resolved_at=1.8e9 + 60),
    Episode("a2", "pump-08", 1.8e9 + 1, 0.9, "v1", ["flow"]),
    Episode("a3", "fan-02", 1.8e9 + 2, 0.9, "v1", ["flow"]),
]


def _alerts(
    monkeypatch: pytest.MonkeyPatch, asset: str, exit_status: int = 0, **options: object
) -> tuple[str, str]:
    since = options.get("since")
    # --since keeps the episodes opened since then (none here); the topic's earlier events name the others
    kept = [] if since is not None else EPISODES
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in kept})
    earlier = [SimpleNamespace(key=e.alert_id.encode(), value=orjson.dumps(e.as_dict())) for e in EPISODES]
    monkeypatch.setattr(alertscmd, "read_topic", lambda *_: (rec for rec in earlier))
    args = argparse.Namespace(open=False, asset=asset, limit=20, json=False, bootstrap="k:9092", since=None)
    vars(args).update(options)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == exit_status, err.getvalue()
    return out.getvalue(), err.getvalue()


def test_a_mistyped_asset_id_is_answered_with_the_ids_that_look_like_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = _alerts(monkeypatch, "pump-7", 2)
    assert out == ""  # refused: a script reads no empty list as "no alerts of pump-7"
    assert "'pump-7'" in err and "no episode" in err and "anomaly-alerts" in err
    assert "did you mean pump-07" in err and "fan-02" not in err
    out, err = _alerts(monkeypatch, "PUMP-08", 2, json=True)
    assert out == "" and "did you mean pump-08" in err


def test_an_asset_like_no_other_names_the_assets_with_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    _, err = _alerts(monkeypatch, "compressor-11", 2)
    assert "'compressor-11'" in err and "did you mean" not in err
    assert "fan-02, pump-07, pump-08" in err


def test_an_asset_whose_episodes_the_options_leave_out_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = _alerts(monkeypatch, "pump-07", open=True)
    assert out == "no alerts\n"
    assert "pump-07 has 1 episode" in err and "none open" in err and "did you mean" not in err


def test_an_asset_listed_says_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = _alerts(monkeypatch, "pump-07")
    assert out.splitlines()[1].split()[0] == "a1" and err == ""


def test_with_since_an_asset_with_earlier_episodes_lists_none_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = _alerts(monkeypatch, "pump-08", since="2026-01-15")
    assert out == "no alerts\n"
    assert "pump-08 has no episode" in err and "opened since 2026-01-15T00:00:00Z" in err
    assert "earlier ones" in err


def test_with_since_an_asset_on_no_event_of_the_topic_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = _alerts(monkeypatch, "pump-7", 2, since="2026-01-15")
    assert out == ""
    assert "no episode of the asset 'pump-7' is on anomaly-alerts" in err
    assert "within the topic's retention" in err and "did you mean pump-07" in err


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_asset_is_refused_before_the_broker_is_read(
    monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    # Before, the topics were read through to say that no episode of '' is on the alerts topic.
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: pytest.fail("read the broker"))
    args = argparse.Namespace(open=False, asset=blank, limit=20, json=False, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 2
    assert (
        out.getvalue() == ""
        and err.getvalue() == f"--asset must name an asset, as the ASSET column shows it; got {blank!r}\n"
    )
