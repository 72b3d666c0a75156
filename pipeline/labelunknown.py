"""What ``dhag-pipeline label`` says of an alert id that is not on the alerts topic (:mod:`pipeline.alertscmd`
refuses it, exit 2): the ids on the topic that look like it, or, when the topic holds no alert at all,
that the cluster or topic may not be the daemons', before it advises ``--unchecked`` (whose label would
go where no retrainer reads)."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from dhag.infotext import shown_name
from pipeline.alertsfit import ELLIPSIS

__all__ = ["unknown_alert"]


def unknown_alert(alert_id: str, known: Collection[str], topic: str, bootstrap: str) -> str:
    """Why ``label`` refuses ``alert_id``, not among the ``known`` ids read from ``topic`` at ``bootstrap``.

    >>> print(unknown_alert("5f3a9c12e0b4", ["5f3a9c21e0b4", "77d0e1aa9b3c"], "anomaly-alerts", "k:9092"))
    unknown alert '5f3a9c12e0b4': it is not on the topic 'anomaly-alerts'; did you mean 5f3a9c21e0b4? (an \
alert older than the topic's retention is no longer on it, and --unchecked labels it unchecked; \
`dhag-pipeline alerts` lists the recent ones)
    """
    if not known:
        return (
            f"unknown alert {alert_id!r}: the topic {topic!r} on {bootstrap} holds no alert at all: check "
            "that --bootstrap (or kafka.bootstrap_servers) and kafka.topics.alerts name the daemons' cluster "
            "and topic; on theirs, an alert older than the topic's retention is no longer on it, and "
            "--unchecked labels it unchecked"
        )
    near = difflib.get_close_matches(alert_id, list(known), n=3, cutoff=0.75)
    head, cut, tail = alert_id.partition(ELLIPSIS)  # copied from the table, which shortens a long id
    if cut:
        near = [
            a for a in known if len(a) > len(alert_id) and a.startswith(head) and a.endswith(tail)
        ] or near
    return (
        f"unknown alert {alert_id!r}: it is not on the topic {topic!r}"
        + (f"; did you mean {' or '.join(map(shown_name, near))}?" if near else "")
        + " (an alert older than the topic's retention is no longer on it, and --unchecked labels it "
        "unchecked; `dhag-pipeline alerts` lists the recent ones)"
    )
