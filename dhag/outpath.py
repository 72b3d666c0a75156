"""Where ``dhag train --out`` will write its model, checked before training: a model that minutes of
training made should not be lost to a folder given as the file, or one the user may not write in."""

from __future__ import annotations

import os
from pathlib import Path

from dhag.exceptions import InputError

__all__ = ["check_model_out"]


def check_model_out(path: Path) -> None:
    """Raise :class:`InputError` unless a model can be written at ``path``: not a folder, and the
    nearest folder of it that exists is one that may be written in (a missing folder is created).

    >>> import tempfile
    >>> check_model_out(Path(tempfile.mkdtemp()) / "new" / "m.dhag")
    """
    if path.is_dir():
        raise InputError(
            f"--out {str(path)!r} is a folder: name the model file to write, such as "
            f"{str(path / 'model.dhag')!r}; nothing was trained."
        )
    folder = path.absolute().parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"--out {str(path)!r}: {str(folder)!r} is not a folder; nothing was trained.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(
            f"--out {str(path)!r}: cannot write in {str(folder)!r} (no permission for this user, or a "
            "read-only volume); nothing was trained."
        )
