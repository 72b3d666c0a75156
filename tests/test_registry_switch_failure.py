"""A switch of ``current`` that fails (a full volume, no permission) after the history was written: the
promotion is refused, and ``current`` and ``history`` stay as they were, so that the promotion, once
made, is in the history once."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import dhag.atomicwrite as atomicwrite
from pipeline import registry


def _refused_at(monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    """The rename into ``name`` fails with ``code``: every write before it succeeded."""
    real = os.replace

    def replace(src: str, dst: str) -> None:
        if Path(dst).name == name:
            raise OSError(code, os.strerror(code), src, None, dst)
        real(src, dst)

    monkeypatch.setattr(atomicwrite.os, "replace", replace)


def _state(root: Path) -> tuple[bytes | None, bytes | None]:
    """The bytes of ``current`` and ``history`` (None: not there)."""
    return tuple(p.read_bytes() if p.exists() else None for p in (root / "current", root / "history"))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_a_promotion_whose_pointer_cannot_be_written_leaves_the_history_as_it_was(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    for version in ("v1", "v2"):
        registry.publish(tmp_path, fitted, version)
    registry.publish(tmp_path, fitted, "v3", make_current=False)
    before = _state(tmp_path)
    _refused_at(monkeypatch, "current", code)
    for _ in range(2):  # an operator tries again before the volume has room
        with pytest.raises(OSError):
            registry.promote(tmp_path, "v3")
        # Before: the history had gained v2 (the current version) at each try, current unchanged.
        assert _state(tmp_path) == before
    monkeypatch.undo()
    assert registry.promote(tmp_path, "v3") == "v2"
    assert registry.history(tmp_path) == ["v1", "v2"]  # each promotion once: v1's, then v2's
    assert registry.rollback(tmp_path) == ("v3", "v2")
    assert registry.rollback(tmp_path) == ("v2", "v1")


def test_a_failed_first_promotion_leaves_no_history(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    assert _state(tmp_path) == (b"v1\n", None)
    _refused_at(monkeypatch, "current", errno.ENOSPC)
    with pytest.raises(OSError):
        registry.promote(tmp_path, "v2")
    assert _state(tmp_path) == (b"v1\n", None)  # before: a history of [v1] while v1 stayed current


def test_a_publication_retried_after_a_failed_switch_is_in_the_history_once(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    before = _state(tmp_path)
    _refused_at(monkeypatch, "current", errno.ENOSPC)
    for _ in range(3):
        with pytest.raises(OSError):
            registry.publish(tmp_path, fitted, "v3")
        assert _state(tmp_path) == before
    monkeypatch.undo()
    assert registry.publish(tmp_path, fitted, "v3") == "v3"
    # Before: ["v1", "v2", "v2", "v2", "v2"]: a rollback went back to v2 as often.
    assert registry.history(tmp_path) == ["v1", "v2"]


def test_a_history_whose_restore_fails_too_gains_no_duplicate(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    real = atomicwrite.os.replace
    _refused_at(monkeypatch, "current", errno.ENOSPC)
    refusing, written = atomicwrite.os.replace, []

    def history_once(src: str, dst: str) -> None:  # the history is written once, then the volume is full
        if Path(dst).name == "history" and written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src, None, dst)
        written.append(dst)
        refusing(src, dst)

    monkeypatch.setattr(atomicwrite.os, "replace", history_once)
    with pytest.raises(OSError) as caught:
        registry.promote(tmp_path, "v2")
    assert caught.value.filename == str(tmp_path / "current")  # the failure that refused it, not the undo's
    monkeypatch.setattr(atomicwrite.os, "replace", real)
    assert registry.current(tmp_path)[0] == "v1"
    assert registry.promote(tmp_path, "v2") == "v1"
    assert registry.history(tmp_path) == ["v1"]
