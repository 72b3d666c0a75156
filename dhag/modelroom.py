"""Room on the volume for the model ``dhag train`` will write, checked once the rows are read and before
training: a volume with a few KiB left takes the small probe :mod:`dhag.outpath` writes, yet not the
model, whose write then fails after minutes of training."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from dhag.exceptions import InputError
from dhag.modules import DHAGNet
from dhag.params import SIZE_PARAMS

__all__ = ["available_bytes", "check_room_for_model", "least_model_bytes"]


def least_model_bytes(model: object, n_features: int, rows: int | None = None) -> int:
    """The bytes of the weights a model of ``model``'s settings (an untrained :class:`~dhag.DHAG`) keeps
    for ``n_features`` input columns: a lower bound of its file's size, as a categorical column is one
    input here and one per category once encoded, and the manifest adds to it; a network for each
    member, times the snapshots each training on ``rows`` rows keeps at least (:func:`_least_snapshots`;
    one without ``rows``). The networks are built on torch's ``meta`` device, which holds no memory.

    >>> from dhag import DHAG
    >>> least_model_bytes(DHAG(), 4) > 100_000, least_model_bytes(DHAG(n_members=2), 4) // 2 == (
    ...     least_model_bytes(DHAG(), 4)
    ... )
    (True, True)
    """
    sizes = {name: int(getattr(model, name)) for name in SIZE_PARAMS}
    with torch.device("meta"):
        net = DHAGNet(n_features=max(int(n_features), 1), recipe=model.recipe, **sizes)
    one = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    return one * int(model.n_members) * _least_snapshots(model, rows)


def _least_snapshots(model: object, rows: int | None) -> int:
    """The networks each training of ``model`` keeps at least on ``rows`` rows: with ``snapshots`` > 1
    and no time budget, which may end it early, as many as the second half of its planned epochs holds
    of them (:func:`~dhag.snapshots.snapshot_schedule`), planned with the most batches ``rows`` make
    (the held-out rows make fewer), so with the fewest epochs that ``max_steps`` leaves; else one.

    >>> from dhag import DHAG
    >>> _least_snapshots(DHAG(snapshots=10), 1000), _least_snapshots(DHAG(snapshots=10, max_epochs=5), 1000)
    (10, 3)
    >>> _least_snapshots(DHAG(snapshots=10, max_steps=40), 1000)  # 4 batches: 10 epochs, 5 kept
    5
    >>> _least_snapshots(DHAG(snapshots=10, time_budget=60.0), 1000)
    1
    """
    snapshots = int(model.snapshots)
    if snapshots <= 1 or model.time_budget is not None or rows is None:
        return 1
    planned = int(model.max_epochs)
    if model.max_steps is not None:
        batches = max(math.ceil(rows / int(model.batch_size)), 1)
        planned = min(planned, math.ceil(int(model.max_steps) / batches))
    return min(snapshots, planned - planned // 2)


def check_room_for_model(path: Path, needed: int) -> None:
    """Raise :class:`InputError` when the volume the model at ``path`` would be written on (that of the
    nearest folder of it that exists) has fewer than ``needed`` bytes available
    (:func:`available_bytes`).

    >>> import tempfile
    >>> check_room_for_model(Path(tempfile.mkdtemp()) / "new" / "m.dhag", 1)
    """
    room = available_bytes(path)
    if room is not None and room[1] < needed:
        folder, free = room
        raise InputError(
            f"--out {str(path)!r}: the volume of {str(folder)!r} has {free:,} bytes available, and the model "
            f"takes at least {needed:,}: free room there, or name a file on another volume; nothing was "
            "trained."
        )


def available_bytes(path: Path) -> tuple[Path, int] | None:
    """The nearest folder of ``path`` that exists, and the bytes available on its volume as ``df`` counts
    them (blocks a volume keeps back for root are not counted: some volumes keep back most of their free
    blocks, and refuse root's writes there too); None where the system does not say.

    >>> import tempfile
    >>> folder, free = available_bytes(Path(tempfile.mkdtemp()) / "new" / "m.dhag")
    >>> folder.is_dir() and free >= 0
    True
    """
    folder = path.absolute().parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    try:
        volume = os.statvfs(folder)
    except OSError:  # not known here: the write says what it finds
        return None
    return folder, volume.f_bavail * volume.f_frsize
