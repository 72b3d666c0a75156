"""One retrainer per model registry, whatever label store each is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.retrain.command import EXIT_BUSY, only_retrainer, only_retrainer_of


def _config(tmp_path: Path, store: Path) -> Path:
    config = tmp_path / f"{store.stem}.yaml"
    config.write_text(
        f"model:\n  registry: {tmp_path / 'registry'}\nmetrics:\n  enabled: false\n"
        f"kafka:\n  bootstrap_servers: k:9092\nretrain:\n  label_store: {store}\n"
    )
    return config


def test_a_second_retrainer_on_the_same_registry_with_another_store_stops_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two retrainers given one model.registry and each its own retrain.label_store (a label store moved
    # to another volume while the old retrainer still ran, a second deployment's config): each locked
    # only its own store, so both trained and promoted over each other, every candidate of one refused
    # as judged against a model the other had replaced, and a prune of one could remove the other's
    # candidate before its promotion. The second now stops before it reaches the broker or its store.
    (tmp_path / "registry").mkdir()
    first, second = tmp_path / "a" / "labels.sqlite", tmp_path / "b" / "labels.sqlite"
    with only_retrainer(first) as alone, only_retrainer_of(tmp_path / "registry"):
        assert alone
        assert main(["retrain", "--once", "--config", str(_config(tmp_path, second))]) == EXIT_BUSY
    err = capsys.readouterr().err
    assert f"another retrainer works on the model registry {tmp_path / 'registry'}" in err
    assert "one retrainer per registry" in err
    assert not second.exists()


def test_a_registry_where_its_lock_cannot_be_made_stops_the_retrainer_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A registry mounted read-only for the retrainer (its label store elsewhere): it could publish no
    # candidate, so it says why at the start, as for a label store it cannot write.
    import errno

    from pipeline.retrain import command

    (tmp_path / "registry").mkdir()
    real = command.flocked

    def read_only(path: Path, *args, **kwargs):
        if path.name == ".retrainer.lock":
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(command, "flocked", read_only)
    assert main(["retrain", "--once", "--config", str(_config(tmp_path, tmp_path / "s" / "l.sqlite"))]) == 4
    err = capsys.readouterr().err
    assert f"cannot open {tmp_path / 'registry' / '.retrainer.lock'}, the lock of the model registry" in err
    assert "Read-only file system" in err and "needs to write to it" in err
