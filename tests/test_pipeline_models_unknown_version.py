"""``models show V`` and ``models promote V`` of a version the registry does not have name the versions
it may have meant: a long version name copied without its end, or with two digits swapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import registry as reg
from pipeline.cli import main

NAMES = ("v20261205T092812Z-1", "v20261205T094224Z-7")


@pytest.fixture
def versions(fitted, tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    for name in NAMES:
        reg.publish(root, fitted, name)
    return root


@pytest.mark.parametrize("action", ["show", "promote"])
@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("v20261205T094224Z", "v20261205T094224Z-7"),  # copied without its end
        ("v20261205T092821Z-1", "v20261205T092812Z-1"),  # two digits swapped
    ],
)
def test_an_unknown_version_names_the_one_meant(versions: Path, capsys, action, given, meant) -> None:
    before = (versions / "current").read_bytes()
    assert main(["models", "--registry", str(versions), action, given]) == 2
    err = capsys.readouterr().err
    # Before: only that the registry had no such version, its 20-character names left to compare by eye.
    assert err.startswith(f"models {action}: refused: The registry ") and f"has no version {given!r}" in err
    assert err.rstrip().endswith(f"Did you mean {meant}?")
    assert (versions / "current").read_bytes() == before


def test_nothing_named_when_no_version_is_like_it(versions: Path, capsys) -> None:
    assert main(["models", "--registry", str(versions), "promote", "prod-2"]) == 2
    err = capsys.readouterr().err
    assert "has no version 'prod-2'" in err and "Did you mean" not in err
