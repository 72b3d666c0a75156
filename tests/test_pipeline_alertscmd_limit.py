"""``dhag-pipeline alerts`` lists the newest ``--limit`` episodes (20 by default) and says on stderr how
many more matched: a plant-wide event opens alerts on more assets than that, and a list cut short
without a word reads as every asset affected."""

from __future__ import annotations

import argparse
import io

import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.config import Settings


def _alerts(monkeypatch: pytest.MonkeyPatch, count: int, **options: object) -> tuple[list[str], str]:
    episodes = [Episode(f"a{i}", f"pump-{i:02}", 1.8e9 + i, 0.9, "v1", ["flow"]) for i in range(count)]
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    args = argparse.Namespace(open=True, asset=None, limit=20, json=False, bootstrap="k:9092", since=None)
    vars(args).update(options)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 0, err.getvalue()
    return out.getvalue().splitlines(), err.getvalue()


def test_a_list_cut_at_the_limit_says_how_many_more_matched(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, err = _alerts(monkeypatch, 24)
    assert len(lines) == 21 and lines[1].split()[0] == "a23"  # the header, then the newest 20
    assert err == "4 more episodes matched (older than the 20 listed); --limit 24 lists them all\n"
    rows, err = _alerts(monkeypatch, 24, json=True, limit=3)
    assert len(rows) == 3 and "21 more episodes matched" in err and "--limit 24" in err


def test_a_list_within_the_limit_says_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, err = _alerts(monkeypatch, 20)
    assert (len(lines), err) == (21, "")


def test_one_more_is_said_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: "1 more episodes matched".
    _, err = _alerts(monkeypatch, 21)
    assert err == "1 more episode matched (older than the 20 listed); --limit 21 lists them all\n"
