"""The registry's publication count (``.sequence``): a publication reads it, not every version's
manifest, and it is recovered from the manifests when it is missing, unreadable or behind them."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

import dhag
import dhag.atomicwrite as atomicwrite
from pipeline import registry


def _sequence(root: Path, version: str) -> int:
    return registry.describe(root, version).sequence


def _counting_manifest_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read, real = [], dhag.read_manifest

    def counting(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - read_manifest's own
        read.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(dhag, "read_manifest", counting)
    return read


def test_a_publication_reads_no_manifest_of_the_versions_before_it(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.publish(tmp_path, fitted, "v0")
    for i in range(1, 25):
        registry.publish(tmp_path, fitted, f"v{i}", make_current=False)
    read = _counting_manifest_reads(monkeypatch)
    registry.publish(tmp_path, fitted, "v25", make_current=False)
    registry.publish(tmp_path, fitted, "v26")
    # Before: each publication read the manifest of every version there (25 here, 3000 in a registry
    # of 3000 versions: seconds under the registry's lock, growing with every run).
    assert read == []
    monkeypatch.undo()
    assert [_sequence(tmp_path, v) for v in ("v0", "v24", "v25", "v26")] == [1, 25, 26, 27]


def test_a_number_is_not_given_again_once_its_version_is_removed(fitted, tmp_path: Path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    (tmp_path / "v2.dhag").unlink()  # removed by hand (a prune keeps the newest)
    registry.publish(tmp_path, fitted, "v3", make_current=False)
    assert _sequence(tmp_path, "v3") == 3  # before: 2, v2's again


@pytest.mark.parametrize("content", [None, "not a number\n", "-4\n", b"\xff\xfe"])
def test_a_missing_or_unreadable_count_is_recovered_from_the_manifests(
    fitted, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str | bytes | None
) -> None:
    for version in ("v1", "v2", "v3"):
        registry.publish(tmp_path, fitted, version, make_current=version == "v1")
    count = tmp_path / ".sequence"
    if content is None:  # a registry of an earlier release, or restored without it
        count.unlink()
    else:
        count.write_bytes(content.encode() if isinstance(content, str) else content)
    registry.publish(tmp_path, fitted, "v4", make_current=False)
    assert _sequence(tmp_path, "v4") == 4
    assert count.read_text() == "4\n"
    if content is not None:
        assert "publication count" in caplog.text and "counted again" in caplog.text


def test_versions_published_without_updating_the_count_are_counted(fitted, tmp_path: Path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    count = tmp_path / ".sequence"
    old = time.time() - 60
    os.utime(count, (old, old))
    # An earlier release, during an upgrade, publishes v3 and v4 (it knows no count file).
    for n in (3, 4):
        fitted.save(tmp_path / f"v{n}.dhag", metadata={"version": f"v{n}", "sequence": n})
    registry.publish(tmp_path, fitted, "v5", make_current=False)
    assert _sequence(tmp_path, "v5") == 5


def test_a_count_that_cannot_be_written_fails_the_publication_and_leaves_no_version(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    real = os.replace

    def full(src: str, dst: str) -> None:
        if Path(dst).name == ".sequence":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src, None, dst)
        real(src, dst)

    monkeypatch.setattr(atomicwrite.os, "replace", full)
    with pytest.raises(OSError) as caught:
        registry.publish(tmp_path, fitted, "v2")
    assert caught.value.filename == str(tmp_path / ".sequence")
    monkeypatch.undo()
    assert not (tmp_path / "v2.dhag").exists() and registry.current(tmp_path)[0] == "v1"
    with caplog.at_level(logging.WARNING):
        assert registry.publish(tmp_path, fitted, "v2") == "v2"
    assert _sequence(tmp_path, "v2") == 2 and not caplog.text


def test_a_version_copied_in_with_its_old_time_kept_is_counted(fitted, tmp_path: Path) -> None:
    # A version copied from another registry with `cp -p` (its modification time kept, older than the
    # count file) was not seen: the next publication took its number again.
    other = tmp_path / "other"
    for version in ("v1", "v2", "v3"):
        registry.publish(other, fitted, version)
    old = time.time() - 3600
    for path in other.iterdir():
        os.utime(path, (old, old))
    here = tmp_path / "here"
    registry.publish(here, fitted, "v1")
    shutil.copy2(other / "v3.dhag", here / "v3.dhag")
    assert (here / "v3.dhag").stat().st_mtime < (here / ".sequence").stat().st_mtime
    registry.publish(here, fitted, "v4", make_current=False)
    assert _sequence(here, "v3") == 3 and _sequence(here, "v4") == 4  # before: 2
