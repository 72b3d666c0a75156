"""The plant's sensors against the current model's, before a candidate trains.

A reading that lacks a sensor the model reads is left out of a run (:class:`FeatureMap`), which is
right for the few the daemon imputed. But when a sensor is renamed or removed in the plant, every
reading since lacks it: the candidate would train on the readings from before the change and on the
parent's reference sample alone, be judged on what little of the holdout still carries it, and could
be promoted while the daemons dead-letter every new reading. The retrainer cannot add a sensor to a
model (the daemons read a model's sensor set at start), so such a run is refused, naming the sensors.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from pipeline.retrain.samples import Reading

__all__ = ["MAX_LACKING_SHARE", "SensorsChangedError", "refuse_changed_sensors"]

log = logging.getLogger(__name__)

# More than this share of the recent normal readings lacking one sensor is a changed plant, not gaps.
MAX_LACKING_SHARE = 0.5


class SensorsChangedError(ValueError):
    """Most recent readings lack a sensor the current model reads: the run is refused (it fails)."""


def refuse_changed_sensors(inputs: Sequence[str], recent: Sequence[Reading]) -> None:
    """Raise :class:`SensorsChangedError` when more than :data:`MAX_LACKING_SHARE` of the ``recent``
    normal readings lack (or hold null for) one of the model's ``inputs``, naming those sensors with
    how many readings lack each, and the sensors the readings carry that the model does not read (a
    renamed one's new name among them).

    >>> rows = [("p1", 0.0, {"a": 1.0, "b2": 2.0}), ("p1", 1.0, {"a": 1.0, "b": 2.0})]
    >>> refuse_changed_sensors(["a", "b"], rows)  # one of two: gaps, not a change
    >>> refuse_changed_sensors(["a", "b"], rows[:1])
    Traceback (most recent call last):
    ...
    pipeline.retrain.sensorset.SensorsChangedError: 1 of the 1 recent normal readings lack sensor(s) \
the current model reads: 'b' (1); they carry sensor(s) it does not read: 'b2': a sensor renamed or \
removed in the plant needs a model trained on the new sensors (dhag train), not a retraining run
    """
    if not recent:
        return
    lacking: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for _, _, values in recent:
        lacking.update(name for name in inputs if values.get(name) is None)
        others.update(name for name in values if name not in inputs)
    changed = [name for name in inputs if lacking[name] > MAX_LACKING_SHARE * len(recent)]
    if not changed:
        return
    n_lacking = sum(any(values.get(name) is None for name in changed) for _, _, values in recent)
    carried = [name for name, n in others.most_common(5) if n > MAX_LACKING_SHARE * len(recent)]
    raise SensorsChangedError(
        f"{n_lacking} of the {len(recent)} recent normal readings lack sensor(s) the current model "
        f"reads: {', '.join(f'{name!r} ({lacking[name]})' for name in changed)}"
        + (f"; they carry sensor(s) it does not read: {', '.join(map(repr, carried))}" if carried else "")
        + ": a sensor renamed or removed in the plant needs a model trained on the new sensors "
        "(dhag train), not a retraining run"
    )
