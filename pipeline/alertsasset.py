"""Why ``dhag-pipeline alerts --asset A`` lists nothing (:mod:`pipeline.alertscmd` says it on stderr): the
asset's episodes are there but the other options leave them out, or there is none of that asset on the
alerts topic, which a mistyped id (``pump-7`` for ``pump-07``) and a quiet asset look alike in."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from dhag.infotext import shown_name
from pipeline.alertepisodes import Episode, when
from pipeline.alertsfit import ELLIPSIS

__all__ = ["asset_note"]

#: How many asset ids the note names at most.
SHOWN = 8


def asset_note(asset: str, episodes: Iterable[Episode], *, since: float | None, topic: str) -> str:
    """What to say when ``--asset asset`` matched no episode among ``episodes`` (those read from
    ``topic``, opened at or after ``since`` when given): as ``--since`` is applied in reading them, an
    episode of that asset among them was left out by ``--open``.

    >>> e = [Episode("a1", "pump-07", 5.0, 0.9, "v1", [], resolved_at=9.0)]
    >>> print(asset_note("pump-07", e, since=None, topic="anomaly-alerts"))
    pump-07 has 1 episode on anomaly-alerts, none open: without --open it is listed
    >>> print(asset_note("pump-7", e, since=None, topic="anomaly-alerts"))
    no episode of the asset 'pump-7' is on anomaly-alerts: it has not alerted within the topic's retention, \
or the id is mistyped; did you mean pump-07?
    """
    episodes = list(episodes)
    since_text = "" if since is None else f" opened since {when(since)}"
    own = [e for e in episodes if e.asset_id == asset]
    if own:
        many = len(own) > 1
        count = f"{len(own)} episode{'s' if many else ''}"
        listed = "they are" if many else "it is"
        return f"{asset} has {count} on {topic}{since_text}, none open: without --open {listed} listed"
    assets = sorted({e.asset_id for e in episodes})
    said = f"no episode of the asset {asset!r} is on {topic}{since_text}"
    if not assets:
        return f"{said}: no asset has one"
    folded = {a.casefold(): a for a in assets}
    near = [folded[a] for a in difflib.get_close_matches(asset.casefold(), list(folded), n=3, cutoff=0.75)]
    head, cut, tail = asset.partition(ELLIPSIS)  # copied from the table, which shortens a long id
    if cut:
        near = [a for a in assets if len(a) > len(asset) and a.startswith(head) and a.endswith(tail)] or near
    within = "since then" if since is not None else "within the topic's retention"
    said += f": it has not alerted {within}, or the id is mistyped"
    # Named as the table shows them: the ids come from the alerts topic, and may hold a terminal's escape.
    if near:
        return f"{said}; did you mean {' or '.join(map(shown_name, near))}?"
    more = f" and {len(assets) - SHOWN} more" if len(assets) > SHOWN else ""
    return f"{said}; the assets with episodes there: {', '.join(map(shown_name, assets[:SHOWN]))}{more}"
