"""The one rule an id on the alerts topic keeps (an alert's, its asset's, its model version's): a
printable string of 1 to :data:`MAX_ID` characters.

The retrainer keeps only the alert events whose ids keep it (:mod:`pipeline.retrain.alertfeed`), the
consoles (``alerts``, ``label``) list only those, and a label names its alert by such an id
(:class:`pipeline.labels.Label`): an alert listed can be labelled, and its label joins it in the label
store rather than being dead-lettered as naming an alert the retrainer never kept.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ID_RULE", "MAX_ID", "id_refusal"]

#: The longest id an alert event may give (characters).
MAX_ID = 256
#: What such an id is, as the refusals say it.
ID_RULE = f"a printable string of 1 to {MAX_ID} characters"


def id_refusal(value: Any, name: str = "alert_id") -> str | None:
    """Why ``value`` is no id of the alerts topic, naming it ``name``; None when it is one.

    >>> id_refusal("a3f9c2"), id_refusal("pump 01 #3")
    (None, None)
    >>> print(id_refusal(42))
    alert_id must be a printable string of 1 to 256 characters, got 42
    >>> print(id_refusal("a1\\n", "asset_id"))
    asset_id must be a printable string of 1 to 256 characters, got 'a1\\n'
    """
    if isinstance(value, str) and 0 < len(value) <= MAX_ID and value.isprintable():
        return None
    return f"{name} must be {ID_RULE}, got {value!r:.80}"
