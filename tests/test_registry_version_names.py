"""Default version names are never used twice in a registry: not when a version of that name was
pruned and the clock was stepped back to its second, nor within one second."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline import registry
from pipeline.retention import prune


class _Clock:
    """Wall clock for the registry, held at ``now`` (seconds since the epoch)."""

    def __init__(self, monkeypatch, now: float) -> None:
        self.now = now
        real_gmtime = time.gmtime
        monkeypatch.setattr(time, "time", lambda: self.now)
        monkeypatch.setattr(time, "gmtime", lambda s=None: real_gmtime(self.now if s is None else s))


def test_a_pruned_versions_name_is_not_taken_again_when_the_clock_steps_back(
    fitted, tmp_path: Path, monkeypatch
) -> None:
    clock = _Clock(monkeypatch, 1_796_000_000.0)
    registry.publish(tmp_path, fitted, "v-base")
    names = []
    for _ in range(2):
        clock.now += 1
        names.append(registry.publish(tmp_path, fitted, make_current=False))
    prune(tmp_path, keep=1)
    assert not (tmp_path / f"{names[0]}.dhag").exists()  # the first default-named version was pruned
    clock.now -= 1  # NTP steps the clock back a second, to the pruned one's
    names.append(registry.publish(tmp_path, fitted, make_current=False))
    # Before: the new version took the pruned one's name: its report, logs and alerts' model_version
    # named two different models, and a rollback target recorded elsewhere under it loaded another one.
    assert len(set(names)) == len(names), names
    assert names[-1].startswith(time.strftime("v%Y%m%dT%H%M%SZ", time.gmtime()))  # still its time


def test_default_names_within_one_second_differ(fitted, tmp_path: Path, monkeypatch) -> None:
    _Clock(monkeypatch, 1_796_000_000.0)
    names = [registry.publish(tmp_path, fitted, make_current=False) for _ in range(3)]
    assert len(set(names)) == 3
    assert [m.version for m in registry.list_models(tmp_path)] == names  # in the order published
