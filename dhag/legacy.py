"""The settings DHAG gained after the first artifact format, and the value of each that trains and scores
a model as releases from before it existed did: what a manifest that leaves the setting out means.

A release refuses an artifact whose manifest lists a setting it does not know (:func:`dhag.load_model`):
it cannot honour it. So :func:`dhag.save_model` leaves out every setting of :data:`BEFORE_IT_EXISTED` at
that value, and a release from before the setting loads the model and does what the writer did; at any
other value the setting is written, and that release refuses the model, as it must. Reading, a setting
left out takes that value, whatever DHAG's default is by then.

Leaving a setting out is safe only if every release that knows it reads its absence as that value too:
its loader filled that value in, or its default was that value. The git history holds that for every
entry, from the commit that added it on. Settings also added after the first format, but always
written (:data:`ALWAYS_WRITTEN`):

- ``max_steps`` and ``collapse_retry``: releases that know them read their absence as their defaults
  (20,000 updates, a retry) rather than what came before them (no cap, no retry);
- ``shift_mode`` and ``shift_range``: for a few commits (7a32323 to 5021b76) a missing one was read as
  ``"beyond"`` and ``(0, 2)``; a release that predates them also predates ``retry_ce_target``, which a
  default model writes, so nothing loads there that would otherwise be refused.

A setting added later joins :data:`BEFORE_IT_EXISTED` when one of its values does exactly what the
releases before it did, and the new release's loader reads its absence as that value.

A setting whose default became None, meaning the number that was its default before
(:data:`NONE_MEANT`), is written as that number when None, which earlier releases take (they refuse
None there), and read back as None: the model trains and scores alike, and one written before, with the
number, reads as unset. So does one given that number by hand: it meant the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dhag.retry import CONTROLLER_TARGET
from dhag.threshold import DEFAULT_TARGET_FAR

__all__ = [
    "ALWAYS_WRITTEN",
    "BEFORE_IT_EXISTED",
    "NONE_MEANT",
    "as_built",
    "dropped_note",
    "left_out",
    "read_as_before",
    "refit_settings",
]

# Setting -> the value that does what the releases before it did (the commit that added it).
BEFORE_IT_EXISTED: dict[str, Any] = {
    "ce_target": None,  # lambda1 fixed (7a1902f)
    "shift_weight": 0.0,  # no shifted-row anomalies (7a1902f)
    "validation_split": "random",  # a random slice held out (bae2c31)
    "shift_mode": "offset",  # the shifted rows' only rule (7a32323); always written, read only
    "min_threshold": None,  # no floor under the threshold (1e4abdc)
    "average_weights": False,  # the last weights kept (f77b6d3)
    "retry_ce_target": CONTROLLER_TARGET,  # a retry steered L_ce at 0.9 (ba57165)
    "perturbator_game": "cooperative",  # Algorithm 1's game (188b71d)
    "n_members": 1,  # one network (90b8961)
    "ce_weighting": "rows",  # L_ce row by row, the paper's equation (2) (447d341)
    "snapshots": 1,  # one state per training (532b19f)
    "recipe": "paper",  # the paper's networks and regularisers (d2027ec)
    "allow_many_categories": False,  # a categorical that looks like an id refused (8120da3)
}
ALWAYS_WRITTEN = frozenset({"max_steps", "collapse_retry", "shift_mode", "shift_range"})
# Setting -> the number its None default means, which every release before that default wrote. target_far
# became None so that fit can refuse it beside contamination: unset, not 0.01, where contamination is set.
NONE_MEANT: dict[str, Any] = {"target_far": DEFAULT_TARGET_FAR}


def _same(value: Any, before: Any) -> bool:
    return value is before or (type(value) is type(before) and value == before)


def _is_before(name: str, value: Any) -> bool:
    if name in ALWAYS_WRITTEN or name not in BEFORE_IT_EXISTED:
        return False
    return _same(value, BEFORE_IT_EXISTED[name])


def left_out(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` (as JSON holds them) less those at the value from before they existed, and each of
    :data:`NONE_MEANT` that is None as the number it means.

    >>> left_out({"max_epochs": 20, "recipe": "paper", "snapshots": 3, "ce_target": None, "target_far": None})
    {'max_epochs': 20, 'snapshots': 3, 'target_far': 0.01}
    """
    written = {
        name: NONE_MEANT[name] if name in NONE_MEANT and value is None else value
        for name, value in settings.items()
    }
    return {name: value for name, value in written.items() if not _is_before(name, value)}


def read_as_before(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` from a manifest, each setting of :data:`BEFORE_IT_EXISTED` it leaves out read as
    before that setting existed, and each of :data:`NONE_MEANT` at the number its None means as None.

    >>> read_as_before({"recipe": "reference", "max_epochs": 20})["recipe"], read_as_before({})["snapshots"]
    ('reference', 1)
    >>> read_as_before({"target_far": 0.01})["target_far"], read_as_before({"target_far": 0.05})["target_far"]
    (None, 0.05)
    """
    read = BEFORE_IT_EXISTED | dict(settings)
    return read | {name: None for name, meant in NONE_MEANT.items() if _same(read.get(name), meant)}


def as_built(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` read from a manifest (JSON, where every sequence is a list) as a loaded model's
    ``get_params()`` gives them, as the model was built: the column lists as lists, empty ones as their
    default ``()``, and ``shift_range`` as a pair, as its default is. The ``device`` is the one the model
    was built with, not the one it was loaded onto (that is ``device_``), so that ``clone`` and a refit
    train where the model trained.

    >>> as_built({"categorical": ["site"], "passthrough": [], "shift_range": [2.0, 4.0], "device": "auto"})
    {'categorical': ['site'], 'passthrough': (), 'shift_range': (2.0, 4.0), 'device': 'auto'}
    """
    built = dict(settings)
    for key in ("categorical", "passthrough", "feature_names"):
        if built.get(key) is not None:
            built[key] = list(built[key]) if built[key] or key == "feature_names" else ()
    if built.get("shift_range") is not None:
        built["shift_range"] = tuple(built["shift_range"])
    return built


def refit_settings(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``settings`` (a loaded model's ``get_params()``) as a refit of that model takes them, and the
    settings it drops, by name with the value they held: a ``target_far`` beside ``contamination``, which
    releases before ``fit`` refused the pair took and ignored (contamination set the threshold). The
    model is refit as it was trained; a new model given both is still refused.

    >>> refit_settings({"target_far": 0.05, "contamination": 0.1})
    ({'target_far': None, 'contamination': 0.1}, {'target_far': 0.05})
    >>> refit_settings({"target_far": 0.05, "contamination": None})[1]
    {}
    """
    if settings.get("target_far") is None or settings.get("contamination") is None:
        return dict(settings), {}
    return dict(settings) | {"target_far": None}, {"target_far": settings["target_far"]}


def dropped_note(settings: Mapping[str, Any]) -> str | None:
    """What a refit of a model with ``settings`` drops (:func:`refit_settings`), in words; None when
    nothing.

    >>> dropped_note({"target_far": 0.05, "contamination": 0.1}).split(" (")[0]
    'target_far 0.05 is dropped: contamination 0.1 sets the threshold'
    """
    dropped = refit_settings(settings)[1]
    if not dropped:
        return None
    return (
        f"target_far {dropped['target_far']} is dropped: contamination {settings['contamination']} sets "
        "the threshold (the release that saved the model ignored target_far beside it; fit now refuses "
        "the pair)"
    )
