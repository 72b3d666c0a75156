"""Why ``dhag-pipeline alerts --asset A`` lists nothing (:mod:`pipeline.alertscmd` says it on stderr): the
asset's episodes are there but the other options leave them out (``--open``, ``--since``: it has earlier
ones), or there is none of that asset on the alerts topic, which a mistyped id (``pump-7`` for
``pump-07``) and a quiet asset look alike in, and which the console refuses (exit 2)."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import Any

import orjson

from dhag.infotext import shown_name
from pipeline.alertepisodes import Episode, when
from pipeline.alertsfit import ELLIPSIS
from pipeline.textwidth import escaped

__all__ = ["asset_note", "asset_scan", "later_schema_asset"]

#: How many asset ids the note names at most.
SHOWN = 8


def asset_note(
    asset: str,
    episodes: Iterable[Episode],
    *,
    since: float | None,
    topic: str,
    earlier: bool = False,
    others: Collection[str] = (),
) -> str:
    """What to say when ``--asset asset`` matched no episode among ``episodes`` (those read from
    ``topic``, opened at or after ``since`` when given): as ``--since`` is applied in reading them, an
    episode of that asset among them was left out by ``--open``; ``earlier``: the asset has episodes
    opened before ``since`` (:func:`asset_scan`). Else the asset has no episode on the topic, and the ids
    like it among those of ``episodes`` and ``others`` (more asset ids of the topic) are named.

    >>> e = [Episode("a1", "pump-07", 5.0, 0.9, "v1", [], resolved_at=9.0)]
    >>> print(asset_note("pump-07", e, since=None, topic="anomaly-alerts"))
    pump-07 has 1 episode on anomaly-alerts, none open: without --open it is listed
    >>> print(asset_note("pump-7", e, since=None, topic="anomaly-alerts"))
    no episode of the asset 'pump-7' is on anomaly-alerts: it has not alerted within the topic's retention, \
or the id is mistyped; did you mean pump-07?
    >>> print(asset_note("pump-08", [], since=1.8e9, topic="anomaly-alerts", earlier=True))
    pump-08 has no episode on anomaly-alerts opened since 2027-01-15T08:00:00Z, but earlier ones: an earlier \
--since lists them
    """
    episodes = list(episodes)
    own = [e for e in episodes if e.asset_id == asset]
    if own:
        many = len(own) > 1
        count = f"{len(own)} episode{'s' if many else ''}"
        listed = "they are" if many else "it is"
        since_text = "" if since is None else f" opened since {when(since)}"
        return f"{asset} has {count} on {topic}{since_text}, none open: without --open {listed} listed"
    if earlier and since is not None:
        since_text = f"opened since {when(since)}, but earlier ones: an earlier --since lists them"
        return f"{asset} has no episode on {topic} {since_text}"
    assets = sorted({e.asset_id for e in episodes} | set(others))
    said = f"no episode of the asset {asset!r} is on {topic}"
    if not assets:
        return f"{said}: no asset has one"
    folded = {a.casefold(): a for a in assets}
    near = [folded[a] for a in difflib.get_close_matches(asset.casefold(), list(folded), n=3, cutoff=0.75)]
    head, cut, tail = asset.partition(ELLIPSIS)  # copied from the table, which shortens a long id
    if cut:
        near = [a for a in assets if len(a) > len(asset) and a.startswith(head) and a.endswith(tail)] or near
    said += ": it has not alerted within the topic's retention, or the id is mistyped"
    # Named as the table shows them: the ids come from the alerts topic, and may hold a terminal's escape.
    if near:
        return f"{said}; did you mean {' or '.join(map(shown_name, near))}?"
    more = f" and {len(assets) - SHOWN} more" if len(assets) > SHOWN else ""
    return f"{said}; the assets with episodes there: {', '.join(map(shown_name, assets[:SHOWN]))}{more}"


def asset_scan(records: Iterable[Any], asset: str) -> tuple[bool, set[str]]:
    """Whether one of ``records`` (the alerts topic's) is an event of ``asset``, read up to the first that
    is, and the asset ids of the events read.

    >>> from types import SimpleNamespace as R
    >>> records = [R(key=b"a1", value=b'{"asset_id": "pump-07"}'), R(key=b"fan-2", value=b"{}")]
    >>> found, seen = asset_scan(records, "fan-2")
    >>> found, sorted(seen)
    (True, ['pump-07'])
    """
    wanted, seen = asset.encode(), set()
    for rec in records:
        if rec.key == wanted:  # the daemon keys an event by its asset
            return True, seen
        try:
            named = orjson.loads(rec.value).get("asset_id")
        except (orjson.JSONDecodeError, AttributeError, TypeError):  # not an event: no asset
            continue
        if named == asset:
            return True, seen
        if isinstance(named, str):
            seen.add(named)
    return False, seen


def later_schema_asset(asset: str, schema: str, topic: str) -> str:
    """Why ``alerts --asset asset`` lists nothing when the asset's only events on ``topic`` are of another
    ``schema`` (by its JSON text): a later release's, which this one cannot read.

    >>> print(later_schema_asset("pump-07", "2", "anomaly-alerts"))
    pump-07 has events on anomaly-alerts of schema 2 only, which this release of dhag-pipeline does not \
read: list them with the daemons' release of `dhag-pipeline alerts`
    """
    return (
        f"{shown_name(asset)} has events on {topic} of schema {escaped(schema)} only, which this release of "
        "dhag-pipeline does not read: list them with the daemons' release of `dhag-pipeline alerts`"
    )
