"""A rollback whose history lists versions that no longer load (damaged, signed with another key, a newer
release's, removed by hand): it goes back to the newest earlier version that loads, says which it passed
over and why, and leaves them out of the history; when none loads it refuses, naming each, and changes
nothing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import dhag.artifact
import dhag.atomicwrite as atomicwrite
from pipeline import registry
from pipeline.cli import main
from pipeline.errors import ModelUnavailableError


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def _newer(path: Path) -> None:
    manifest, tensors, _ = dhag.artifact._read(path)
    manifest["settings"] |= {"attention_heads": 4}
    dhag.artifact.write_artifact(path, manifest, tensors)


def _other_key(path: Path) -> None:
    key = os.environ["DHAG_ARTIFACT_KEY"]
    os.environ["DHAG_ARTIFACT_KEY"] = "another key"
    try:
        dhag.artifact.sign_artifact(path)
    finally:
        os.environ["DHAG_ARTIFACT_KEY"] = key


# fault -> (how the version's file is made unreadable, what the line that passes over it says)
FAULTS = {
    "truncated": (_truncate, "damaged"),
    "checksum": (_flip, "damaged"),
    "bad_signature": (_other_key, "not signed with the deployment's key"),
    "newer_release": (_newer, "a newer release's"),
    "missing": (lambda p: p.unlink(), "missing"),
}


@pytest.fixture
def published(fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``publish(n)``: v1..vn, each made current in turn (so v1..v(n-1) are in the history), signed
    with the deployment's key."""
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "k1")

    def publish(n: int) -> Path:
        for i in range(1, n + 1):
            registry.publish(tmp_path, fitted, f"v{i}")
        return tmp_path

    return publish


def _on_disk(root: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in root.iterdir() if p.is_file())


@pytest.mark.parametrize("fault", FAULTS)
def test_a_rollback_passes_over_a_version_that_no_longer_loads(
    published, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = published(3)
    FAULTS[fault][0](root / "v2.dhag")
    # Before: refused ("Cannot load model version 'v2'", or "has no version 'v2'"), every time: v2
    # stayed last in the history, so v1 could never be reached.
    assert registry.rollback(root) == ("v3", "v1")
    assert registry.current(root)[0] == "v1" and registry.history(root) == []
    passed = [r.getMessage() for r in caplog.records if "passed over" in r.getMessage()]
    assert len(passed) == 1 and "v2" in passed[0] and FAULTS[fault][1] in passed[0]
    with pytest.raises(ModelUnavailableError, match="Nothing to roll back to"):
        registry.rollback(root)


def test_only_the_entries_it_passed_over_leave_the_history(published) -> None:
    root = published(5)  # history v1..v4, v5 current
    _truncate(root / "v4.dhag")
    (root / "v3.dhag").unlink()
    _truncate(root / "v1.dhag")  # older than the version it goes back to: not passed, so kept
    assert registry.rollback(root) == ("v5", "v2")
    assert registry.history(root) == ["v1"]
    # The next rollback meets v1, which does not load either: refused, naming it; nothing changes.
    before = _on_disk(root)
    with pytest.raises(ModelUnavailableError, match=r"v1: damaged"):
        registry.rollback(root)
    assert _on_disk(root) == before and registry.current(root)[0] == "v2"


def test_a_rollback_with_no_earlier_version_that_loads_is_refused_naming_each_and_changes_nothing(
    published,
) -> None:
    root = published(3)
    (root / "v2.dhag").unlink()
    _other_key(root / "v1.dhag")
    before = _on_disk(root)
    with pytest.raises(ModelUnavailableError) as refused:
        registry.rollback(root)
    said = str(refused.value)
    assert "Nothing to roll back to" in said
    assert "v2: missing" in said and "v1: not signed with the deployment's key" in said
    assert said.index("v2: missing") < said.index("v1: not signed")  # newest first, as it walked
    assert _on_disk(root) == before
    assert registry.current(root)[0] == "v3" and registry.history(root) == ["v1", "v2"]


def test_a_version_listed_twice_is_passed_over_once(published) -> None:
    root = published(3)
    assert registry.promote(root, "v2") == "v3"  # history v1, v2, v3; v2 current
    assert registry.promote(root, "v3") == "v2"  # history v1, v2, v3, v2; v3 current
    _flip(root / "v2.dhag")
    assert registry.rollback(root) == ("v3", "v1")  # v2 passed over (twice listed), v3 is current
    assert registry.history(root) == []


def test_a_rollback_whose_history_cannot_be_shortened_never_points_back_at_what_it_passed(
    published, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = published(3)
    _truncate(root / "v2.dhag")
    real = os.replace

    def full(src: str, dst: str) -> None:
        if Path(dst).name == "history":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src, None, dst)
        real(src, dst)

    monkeypatch.setattr(atomicwrite.os, "replace", full)
    assert registry.rollback(root) == ("v3", "v1")  # done: current switched, the history is as it was
    assert "could not be shortened" in caplog.text
    monkeypatch.setattr(atomicwrite.os, "replace", real)
    assert registry.history(root) == ["v1", "v2"]
    # v2 is passed over again, v1 is current: nothing earlier, refused; current stays v1.
    with pytest.raises(ModelUnavailableError, match=r"(?s)Nothing to roll back to.*\n  v2: damaged"):
        registry.rollback(root)
    assert registry.current(root)[0] == "v1"


@pytest.mark.parametrize("fault", FAULTS)
def test_models_rollback_says_on_stderr_what_it_passed_over(
    published, fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = published(3)
    FAULTS[fault][0](root / "v2.dhag")
    capsys.readouterr()
    base = ["models", "--registry", str(root), "rollback"]
    # Before: exit 2 ("refused"), and again at every retry.
    assert main(base) == 0
    captured = capsys.readouterr()
    assert captured.out == "v1 is current again (was v3)\n"
    lines = captured.err.splitlines()
    assert len(lines) == 1  # v3 was published current by hand: no note of the retrainer's promotions
    assert lines[0].startswith(f"models rollback: passed over v2: {FAULTS[fault][1]} (")
    assert main(base) == 2
    assert "Nothing to roll back to" in capsys.readouterr().err


def test_models_rollback_refuses_naming_each_entry_one_line_each(published, capsys) -> None:
    root = published(4)
    _truncate(root / "v3.dhag")
    _newer(root / "v2.dhag")
    (root / "v1.dhag").unlink()
    capsys.readouterr()
    before = _on_disk(root)
    assert main(["models", "--registry", str(root), "rollback"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("models rollback: refused: Nothing to roll back to")
    named = [line.strip() for line in err.splitlines() if line.startswith("  v")]
    assert [line.split(":")[0] for line in named] == ["v3", "v2", "v1"]
    assert named[0].startswith("v3: damaged") and named[1].startswith("v2: a newer release's")
    assert named[2].startswith("v1: missing")
    assert _on_disk(root) == before


def test_a_device_that_cannot_load_any_model_passes_over_nothing(published) -> None:
    # The device is the deployment's fault, not the versions': the rollback is refused as a whole and
    # the history keeps every entry.
    root = published(3)
    before = _on_disk(root)
    with pytest.raises(dhag.DHAGError):
        registry.rollback(root, device="no-such-device")
    assert _on_disk(root) == before
