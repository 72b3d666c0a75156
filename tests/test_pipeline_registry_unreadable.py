"""A ``current`` pointer that cannot be read (no permission, an I/O error) is not a missing or a damaged
one: it may name the version the daemons run, so an operator's promote or rollback refuses to replace
it unseen, naming the file and the error, and changes nothing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.errors import ModelUnavailableError
from pipeline.registry import current, history, promote, publish, rollback

ERRORS = {"EACCES": errno.EACCES, "EIO": errno.EIO}


@pytest.fixture
def registry(fitted, tmp_path: Path) -> Path:
    publish(tmp_path, fitted, "v1")
    publish(tmp_path, fitted, "v2")  # current, v1 in the history
    publish(tmp_path, fitted, "v3", make_current=False)
    return tmp_path


def _unreadable(monkeypatch: pytest.MonkeyPatch, registry: Path, code: int) -> None:
    """Reading ``registry``'s ``current`` fails with ``code`` (the tests run as root, whom no mode
    stops, and no volume here fails on demand)."""
    read_text = Path.read_text

    def failing(self: Path, *args: object, **kwargs: object) -> str:
        if self == registry / "current":
            raise OSError(code, os.strerror(code), str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", failing)


def _on_disk(registry: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in registry.iterdir() if p.is_file())


@pytest.mark.parametrize("name", ERRORS)
@pytest.mark.parametrize("switch", ["promote", "rollback"])
def test_a_switch_refuses_to_replace_a_pointer_it_cannot_read(
    registry: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, name: str, switch: str
) -> None:
    # Before: replaced with only a warning; the version it named (the one in use) never joined the
    # history, so no rollback could go back to it.
    before = _on_disk(registry)
    _unreadable(monkeypatch, registry, ERRORS[name])
    with pytest.raises(ModelUnavailableError) as refused:
        promote(registry, "v3") if switch == "promote" else rollback(registry)
    said = str(refused.value)
    assert f"Cannot read {str(registry / 'current')!r}: {os.strerror(ERRORS[name])} ({name})" in said
    assert "not replacing it" in said and "move it aside" in said
    monkeypatch.undo()
    assert _on_disk(registry) == before
    assert current(registry)[0] == "v2" and history(registry) == ["v1"]
    assert "replacing it with" not in caplog.text


def test_the_models_command_refuses_with_exit_2_naming_the_pointer_and_the_error(
    registry: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _unreadable(monkeypatch, registry, errno.EACCES)
    assert main(["models", "--registry", str(registry), "promote", "v3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("models promote: refused: Cannot read ") and str(registry / "current") in err
    assert "Permission denied (EACCES)" in err


def test_a_pointer_moved_aside_is_then_replaced(registry: Path) -> None:
    # What the refusal advises, for an operator who knows the version in use or does not need it.
    (registry / "current").rename(registry / "current.unreadable")
    assert promote(registry, "v3") is None
    assert current(registry)[0] == "v3" and history(registry) == ["v1"]
