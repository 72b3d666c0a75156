"""The lock files beside the label store and in the registry: what an operator reads when one is in the
way, and that one left behind by a dead process blocks nothing."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pipeline import lockfile, registry
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.errors import LockFileError
from pipeline.retrain.command import EXIT_BUSY, EXIT_STORE, only_retrainer, run_retrain

REPO = Path(__file__).resolve().parents[1]


def _settings(tmp_path: Path) -> Settings:
    (tmp_path / "registry").mkdir(exist_ok=True)
    return Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path / "registry")},
            "metrics": {"enabled": False},
        }
    )


def _holder(store: Path) -> subprocess.Popen[str]:
    """A process that takes the retrainer's lock on ``store``, says so, and waits."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from pipeline.retrain.command import only_retrainer
        with only_retrainer(Path({str(store)!r})) as alone:
            print(alone, flush=True)
            time.sleep(60)
        """
    )
    env = os.environ | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "True"
    return proc


def test_a_folder_in_place_of_the_label_stores_lock_stops_the_retrainer_saying_what_to_do(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: IsADirectoryError and a traceback, exit 1, which the runbook reads as a failed run.
    settings = _settings(tmp_path)
    lock = tmp_path / "registry" / "labels.sqlite.lock"
    lock.mkdir()
    assert run_retrain(settings, once=True) == EXIT_STORE
    text = caplog.text
    assert str(lock) in text and "is a folder" in text and "one retrainer per label store" in text
    assert "no process holds it" in text and "remove it" in text
    assert not (tmp_path / "registry" / "labels.sqlite").exists()  # nothing touched the store


def test_a_label_store_lock_the_retrainer_cannot_open_stops_it_naming_the_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)

    def full(path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lockfile, "open_lock", full)
    assert run_retrain(settings, once=True) == EXIT_STORE
    lock = tmp_path / "registry" / "labels.sqlite.lock"
    assert f"cannot open {lock}" in caplog.text and "No space left on device" in caplog.text
    assert "(retrain.label_store unset: in model.registry; one retrainer per label store)" in caplog.text


@pytest.mark.parametrize("configured", [True, False], ids=["set", "unset"])
def test_a_label_store_lock_the_retrainer_cannot_open_names_the_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, configured: bool
) -> None:
    # Before: the lock's path and the store's, not the setting that put it there (a path misspelt, or
    # on a volume the retrainer cannot write).
    settings = _settings(tmp_path)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    if configured:
        store = blocked / "labels.sqlite"
        settings = settings.model_copy(
            update={"retrain": settings.retrain.model_copy(update={"label_store": str(store)})}
        )
    else:
        store = tmp_path / "registry" / "labels.sqlite"
        (tmp_path / "registry" / "labels.sqlite.lock").symlink_to(blocked / "x")
    assert run_retrain(settings, once=True) == EXIT_STORE
    said = "(retrain.label_store;" if configured else "(retrain.label_store unset: in model.registry;"
    assert f"the label store {store} {said}" in caplog.text, caplog.text


def test_a_lock_left_by_a_killed_retrainer_blocks_no_successor(tmp_path: Path) -> None:
    store = tmp_path / "labels.sqlite"
    holder = _holder(store)
    with only_retrainer(store) as alone:
        assert not alone  # held while its process lives
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert store.with_name("labels.sqlite.lock").exists()  # left behind ...
    with only_retrainer(store) as alone:
        assert alone  # ... and free


def test_a_busy_label_store_names_its_lock_and_the_process_that_holds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model:\n  registry: {registry_dir}\nmetrics:\n  enabled: false\n"
        "kafka:\n  bootstrap_servers: k:9092\n"
    )
    holder = _holder(registry_dir / "labels.sqlite")
    try:
        assert main(["retrain", "--once", "--config", str(config)]) == EXIT_BUSY
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert "another retrainer holds the label store" in err
    assert f"{registry_dir / 'labels.sqlite.lock'}" in err and f"process {holder.pid} on " in err


def test_a_folder_in_place_of_the_registry_lock_refuses_a_switch_saying_what_to_do(
    fitted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    (tmp_path / ".lock").unlink()
    (tmp_path / ".lock").mkdir()
    # Before: "refused: the registry '...': Is a directory", naming neither the lock nor a remedy.
    assert main(["models", "--registry", str(tmp_path), "rollback"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / '.lock'} is a folder" in err and "no process holds it" in err and "remove it" in err
    assert (tmp_path / "current").read_text().strip() == "v2"
    # The retrainer's publication reads the same.
    with pytest.raises(LockFileError, match="pointer switches"):
        registry.publish(tmp_path, fitted, "v3")


def test_a_lock_whose_note_the_volume_refuses_is_still_taken_and_still_excludes(tmp_path: Path) -> None:
    # The note of who holds it is best effort: a full volume (here a file size limit of 0 bytes, which
    # refuses it alike) must not stop the retrainer from taking its lock, nor let a second one in.
    store = tmp_path / "labels.sqlite"
    code = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        from pipeline.retrain.command import only_retrainer
        with only_retrainer(Path({str(store)!r})) as alone:
            with only_retrainer(Path({str(store)!r})) as second:
                print(alone, second)
        """
    )
    env = os.environ | {"PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]
    assert (tmp_path / "labels.sqlite.lock").read_text() == ""  # no note: the holder is said to be unknown


def test_a_prune_on_a_full_registry_volume_reports_what_it_removed(fitted, tmp_path: Path) -> None:
    # Pruning is what frees a full registry volume. The refused note of the lock's holder stayed in
    # its file buffer, and the release of the lock wrote it again and raised: 'refused' (exit 2), with
    # the versions already removed.
    for version in ("v1", "v2", "v3"):
        registry.publish(tmp_path, fitted, version, make_current=version == "v1")
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        from pipeline.cli import main
        sys.exit(main(["models", "--registry", {str(tmp_path)!r}, "prune", "--keep", "1"]))
        """
    )
    env = os.environ | {"PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert (done.returncode, done.stdout) == (0, "removed 1 version(s): v2\n"), done.stderr
    assert sorted(p.name for p in tmp_path.glob("*.dhag")) == ["v1.dhag", "v3.dhag"]  # current, newest


def test_a_switch_waiting_for_the_registry_lock_says_who_holds_it(
    fitted, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `models promote` behind a holder that hangs (a retrainer stuck on its volume) waited in silence,
    # with no end and no word of what it waited for.
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    lock = tmp_path / ".lock"
    held = lockfile.open_lock(lock)
    fcntl.flock(held.fileno(), fcntl.LOCK_EX)
    lock.write_text("process 4242 on plant-host\n")
    done: list[str | None] = []
    with caplog.at_level(logging.WARNING, logger="pipeline.lockfile"):
        switch = threading.Thread(target=lambda: done.append(registry.promote(tmp_path, "v1")))
        switch.start()
        deadline = time.monotonic() + 30
        while "waiting" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not done  # it waits for the holder ...
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
        held.close()
        switch.join(30)
    assert done == ["v2"]  # ... and switches once it lets go
    (line,) = [r.getMessage() for r in caplog.records if r.name == "pipeline.lockfile"]
    assert "process 4242 on plant-host" in line and str(lock) in line
