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
from pipeline import registry, registrysequence


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


def test_a_publication_looks_at_no_artifact_named_with_its_number(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(12):
        registry.publish(tmp_path, fitted, make_current=False)  # named v<time>-<number>
    looked: list[str] = []
    real = registrysequence.os.scandir

    class Entry:
        def __init__(self, entry: os.DirEntry) -> None:
            self._entry, self.name, self.path = entry, entry.name, entry.path

        def stat(self) -> os.stat_result:
            looked.append(self.name)
            return self._entry.stat()

    class Listing:
        def __init__(self, path: Path) -> None:
            self._listing = real(path)

        def __enter__(self) -> list[Entry]:
            return [Entry(e) for e in self._listing.__enter__()]

        def __exit__(self, *exc: object) -> None:
            self._listing.__exit__(*exc)

    monkeypatch.setattr(registrysequence.os, "scandir", Listing)
    version = registry.publish(tmp_path, fitted, make_current=False)
    # Before: each publication looked at every artifact's change time (12 here; thousands of looks
    # under the registry's lock in a registry that keeps thousands of versions).
    assert looked == []
    monkeypatch.undo()
    assert _sequence(tmp_path, version) == 13 and version.endswith("-13")


def test_a_copy_named_with_a_higher_number_than_the_count_is_counted(fitted, tmp_path: Path) -> None:
    other, here = tmp_path / "other", tmp_path / "here"
    for _ in range(5):
        copied = registry.publish(other, fitted)
    old = time.time() - 3600
    os.utime(other / f"{copied}.dhag", (old, old))
    registry.publish(here, fitted)
    shutil.copy2(other / f"{copied}.dhag", here / f"{copied}.dhag")
    assert _sequence(here, registry.publish(here, fitted, make_current=False)) == 6
