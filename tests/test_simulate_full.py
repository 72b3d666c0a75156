"""``simulate --history`` on a volume that refuses the file (full, over quota, a file size limit): no
half-written history is left for ``models train`` to read as a shorter one, the history written before
stays whole, and the command says which file it could not write."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _simulate_under_size_limit(history: Path, limit: int) -> subprocess.CompletedProcess[str]:
    """``simulate --history`` in a Python whose files may grow to ``limit`` bytes (SIGXFSZ ignored: a
    write past it fails with EFBIG, as one past a full volume fails with ENOSPC)."""
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        from pipeline.cli import main
        sys.exit(main(["simulate", "--history", {str(history)!r}, "--assets", "2", "--hours", "2"]))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize("name", ["history.csv", "history.parquet"])
def test_a_history_the_volume_refuses_leaves_the_one_before_and_names_the_file(
    tmp_path: Path, name: str
) -> None:
    history = tmp_path / name
    history.write_bytes(b"the history written before")
    done = _simulate_under_size_limit(history, 8192)
    # Before: a traceback, and the file cut off at the limit (a CSV read back as a shorter history).
    assert done.returncode == 2, done.stderr
    assert f"cannot write the history {str(history)!r}: {os.strerror(errno.EFBIG)}" in done.stderr
    assert "Traceback" not in done.stderr
    assert history.read_bytes() == b"the history written before"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_history_written_whole_is_read_back_whole(tmp_path: Path) -> None:
    from pipeline.cli import main
    from pipeline.historyfile import read_history

    history = tmp_path / "h.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "1"]) == 0
    assert len(read_history(history).frame) == 2 * 120  # every 30 s for an hour
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv"]
