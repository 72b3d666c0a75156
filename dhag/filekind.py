"""What a path that is no regular file is, from its ``os.stat`` mode alone: a folder, a named pipe, a
device or a socket, said without opening it (opening a named pipe waits for a writer)."""

from __future__ import annotations

import stat

__all__ = ["not_a_file"]

# The kinds of file that are not regular, by the test of :mod:`stat` that finds each.
_KINDS = {
    stat.S_ISDIR: "a folder",
    stat.S_ISFIFO: "a named pipe (FIFO)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def not_a_file(mode: int) -> str | None:
    """What a path whose ``os.stat`` mode is ``mode`` is, when no regular file: ``"a folder"``, ``"a
    named pipe (FIFO)"``, ``"a character device"`` (``/dev/null``), ...; None for a regular file.

    >>> not_a_file(stat.S_IFIFO), not_a_file(stat.S_IFCHR), not_a_file(stat.S_IFREG) is None
    ('a named pipe (FIFO)', 'a character device', True)
    """
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS.items() if test(mode)), "no regular file")
