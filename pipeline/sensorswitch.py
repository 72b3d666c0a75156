"""A switch of the registry's ``current`` to a version that reads other sensors than the version it
replaces: the running daemons refuse to hot-swap to it (:func:`pipeline.hotswap.verify_replacement`) and
keep serving the one it replaced, while each daemon that starts (a restart, a rollout, a node drain)
serves it. ``models promote`` refuses such a switch unless told the plant's sensors changed
(``--other-sensors``); ``models rollback``, the way out, makes it and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.errors import ModelUnavailableError
from pipeline.features import PlantFeatures

__all__ = ["other_sensors", "refusal", "restart_note", "sensors_read"]


def sensors_read(model: Any) -> list[str]:
    """The sensors a record must carry for ``model``, sorted: the raw inputs of its derived plant
    features, or its features (as :attr:`pipeline.hotswap.ActiveModel.inputs`)."""
    derived = PlantFeatures.from_model(model)
    return sorted(derived.inputs if derived is not None else model.feature_names_in_)


def other_sensors(
    present: str | None, model: Any, load: Callable[[str], Any]
) -> tuple[list[str], list[str]] | None:
    """``(the sensors of present, those of model)`` when they differ; None when they agree, when there is
    no ``present`` version, or when it does not load (``load`` raises): nothing serves it then to
    compare with, and a switch is how it is replaced."""
    if present is None:
        return None
    try:
        serving = sensors_read(load(present))
    except (ModelUnavailableError, ValueError):
        return None
    reads = sensors_read(model)
    return None if reads == serving else (serving, reads)


def refusal(version: str, present: str, sensors: tuple[list[str], list[str]]) -> str:
    """Why ``models promote`` refuses ``version``, whose sensors differ from those of ``present``."""
    serving, reads = sensors
    return (
        f"not promoting {version!r}: it reads the sensors {reads}, but the current version {present!r}, "
        f"which the daemons serve, reads {serving}. Running daemons refuse to hot-swap to a model on other "
        f"sensors and keep serving {present}, while each daemon that starts (a restart, a rollout) would "
        f"serve {version} and dead-letter every reading that lacks its sensors. Once the producers send "
        f"the sensors of {version}, promote it with --other-sensors and restart the daemons"
    )


def restart_note(version: str, present: str) -> str:
    """What a switch from ``present`` to ``version`` on other sensors leaves to do."""
    return (
        f"{version} reads other sensors than {present}: running daemons keep serving {present} until they "
        f"are restarted (they refuse to hot-swap to a model on other sensors); restart them once the "
        f"producers send the sensors of {version}"
    )
