"""The atomic writer on a volume that refuses the write (full, over quota, read-only, a file size limit):
the file it replaces stays whole, no temp file is left behind, and the error names the file it was
writing, with the system's errno, so that a command can say which file could not be written."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from cli_files import stand_in_model

import dhag.atomicwrite as atomicwrite
from dhag.atomicwrite import write_atomic

ROOT = Path(__file__).resolve().parents[1]


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_write_the_volume_refuses_names_the_file_and_leaves_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    path = write_atomic(tmp_path / "current", b"v1\n")
    real_fsync = os.fsync

    def refused(fd: int) -> None:  # the bytes are in the page cache; the volume refuses them at the sync
        if os.fstat(fd).st_size:
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(atomicwrite.os, "fsync", refused)
    with pytest.raises(OSError) as caught:
        write_atomic(path, b"v2\n")
    monkeypatch.undo()
    # Before, the error carried no file name: `dhag train --out` said "No space left on device", not where.
    assert caught.value.errno == code and caught.value.filename == str(path)
    assert str(path) in str(caught.value) and os.strerror(code) in str(caught.value)
    assert path.read_bytes() == b"v1\n" and _only(tmp_path) == ["current"]


def test_a_read_only_folder_names_the_file_not_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_atomic(tmp_path / "current", b"v1\n")

    def read_only(*, prefix: str, suffix: str, dir: Path) -> tuple[int, str]:  # noqa: A002 - mkstemp's name
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(Path(dir) / f"{prefix}x1y2{suffix}"))

    monkeypatch.setattr(atomicwrite.tempfile, "mkstemp", read_only)
    with pytest.raises(OSError) as caught:
        write_atomic(path, b"v2\n")
    # Before: "Read-only file system: '.../.current.x1y2.tmp'", a file nobody asked for.
    assert caught.value.errno == errno.EROFS and caught.value.filename == str(path)
    assert path.read_bytes() == b"v1\n"


def test_a_refused_rename_keeps_the_error_class_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_atomic(tmp_path / "history", b"[]\n")

    def denied(src: str, dst: str) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), src, None, dst)

    monkeypatch.setattr(atomicwrite.os, "replace", denied)
    with pytest.raises(PermissionError) as caught:  # callers that tell EACCES apart still can
        write_atomic(path, b'["v1"]\n')
    assert caught.value.filename == str(path)
    assert path.read_bytes() == b"[]\n" and _only(tmp_path) == ["history"]


def test_a_temp_file_that_cannot_be_removed_does_not_hide_why_the_write_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "current"
    real_unlink = Path.unlink

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def remounted(self: Path, missing_ok: bool = False) -> None:  # the volume went read-only meanwhile
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(atomicwrite.os, "fsync", full)
    monkeypatch.setattr(Path, "unlink", remounted)
    with pytest.raises(OSError) as caught:
        write_atomic(path, b"v2\n")
    monkeypatch.setattr(Path, "unlink", real_unlink)
    # Before, the cleanup's EROFS replaced the ENOSPC that made the write fail.
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)


def test_a_failing_chmod_closes_the_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    real_mkstemp = tempfile.mkstemp

    def mkstemp(**kwargs: object) -> tuple[int, str]:
        fd, name = real_mkstemp(**kwargs)  # type: ignore[call-overload]
        opened.append(fd)
        return fd, name

    def refused(fd: int, mode: int) -> None:  # a file system that keeps no modes (some FUSE mounts)
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(atomicwrite.os, "fchmod", refused)
    monkeypatch.setattr(atomicwrite.tempfile, "mkstemp", mkstemp)
    with pytest.raises(OSError, match="Operation not permitted"):
        write_atomic(tmp_path / "current", b"v1\n")
    monkeypatch.undo()
    # Before, the descriptor stayed open: a long-running retrainer failing each run ran out of them.
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(opened[0])
    assert _only(tmp_path) == []


def _under_size_limit(code: str, limit: int) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a Python whose files may grow to ``limit`` bytes (SIGXFSZ ignored: a write past
    it fails with EFBIG, as one past a full volume fails with ENOSPC)."""
    prelude = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_real_write_past_the_file_size_limit_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "v1.reference.json.gz", b"old sample")
    done = _under_size_limit(
        f"""
        from dhag.atomicwrite import write_atomic
        try:
            write_atomic({str(path)!r}, b"x" * 100_000)
        except OSError as exc:
            print(exc.errno, exc.filename)
        """,
        limit=4096,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(errno.EFBIG), str(path)]
    assert path.read_bytes() == b"old sample" and _only(tmp_path) == ["v1.reference.json.gz"]


def test_dhag_train_on_a_volume_that_refuses_the_model_says_which_file(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    lines = ["a,b"] + [f"{i % 7 * 0.3:.2f},{i % 5 * 0.7:.2f}" for i in range(200)]
    rows.write_text("\n".join(lines) + "\n")
    out = tmp_path / "models" / "m.dhag"
    out.parent.mkdir()
    before = stand_in_model(out)  # the model trained before
    done = _under_size_limit(
        f"""
        from dhag.cli import main
        sys.exit(main(["train", "--data", {str(rows)!r}, "--out", {str(out)!r}, "--max-epochs", "1",
                       "--device", "cpu", "--quiet"]))
        """,
        limit=8192,  # the CSV is read; the model's weights do not fit
    )
    assert done.returncode == 2, done.stderr
    # Before: "dhag train: error: [Errno 27] File too large", with no word of which file.
    assert f"dhag train: error: [Errno {errno.EFBIG}] File too large: {str(out)!r}" in done.stderr
    assert "Traceback" not in done.stderr
    assert out.read_bytes() == before and _only(out.parent) == ["m.dhag"]


def test_dhag_score_on_a_volume_that_refuses_the_scores_leaves_no_file_cut_short(
    fitted, train_rows, tmp_path: Path
) -> None:
    model = fitted.save(tmp_path / "m.dhag")
    data = tmp_path / "rows.csv"
    header = ",".join(fitted.feature_names_in_)
    data.write_text(header + "\n" + "\n".join(",".join(map(str, row)) for row in train_rows) + "\n")
    out = tmp_path / "scores.csv"
    out.write_text("scores of yesterday\n")
    done = _under_size_limit(
        f"""
        from dhag.cli import main
        sys.exit(main(["score", "--model", {str(model)!r}, "--data", {str(data)!r}, "--out", {str(out)!r}]))
        """,
        limit=8192,  # 1000 rows of scores do not fit
    )
    assert done.returncode == 2, done.stderr
    # Before: the CSV cut off at the limit (a reader took it for fewer rows) and no word of which file.
    said = f"dhag score: error: cannot write the scores of 1,000 rows to {str(out)!r}: File too large"
    assert said in done.stderr and "nothing was written to it" in done.stderr
    assert out.read_text() == "scores of yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dhag", "rows.csv", "scores.csv"]


def test_dhag_score_still_writes_through_a_pipe_or_a_link(fitted, train_rows, tmp_path: Path) -> None:
    from dhag.cli import main

    model = fitted.save(tmp_path / "m.dhag")
    data = tmp_path / "rows.csv"
    header = ",".join(fitted.feature_names_in_)
    data.write_text(header + "\n" + "\n".join(",".join(map(str, row)) for row in train_rows[:5]) + "\n")
    target = tmp_path / "target.csv"
    target.write_text("")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert main(["score", "--model", str(model), "--data", str(data), "--out", str(link)]) == 0
    assert link.is_symlink() and len(target.read_text().splitlines()) == 6  # the link's file, not the link
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    assert main(["score", "--model", str(model), "--data", str(data), "--out", str(fifo)]) == 0
    assert len(reader.communicate(timeout=30)[0].splitlines()) == 6
