"""The registry's order of versions when the clock was stepped back: versions published since then
are the newest, whatever time they carry, for the prune and for ``models list``."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline import registry
from pipeline.cli import main
from pipeline.retention import prune


class _Clock:
    """Wall clock for the registry: real time plus ``offset`` seconds."""

    def __init__(self, monkeypatch) -> None:
        self.offset = 0.0
        real_time, real_gmtime = time.time, time.gmtime
        monkeypatch.setattr(time, "time", lambda: real_time() + self.offset)
        monkeypatch.setattr(time, "gmtime", lambda s=None: real_gmtime(time.time() if s is None else s))


def test_versions_published_after_the_clock_stepped_back_are_the_newest(
    fitted, tmp_path: Path, monkeypatch, capsys
) -> None:
    # A host whose clock ran an hour ahead, then was set right (NTP stepping it back): the versions
    # published since carry earlier times than those before. Ordered by those times, every new
    # candidate was pruned by the next run, with its report (what the operator reads to judge a
    # refusal, and the candidate 'models promote' was told to take), while the versions from before
    # the step filled the kept places until the clock caught up with them.
    clock = _Clock(monkeypatch)
    registry.publish(tmp_path, fitted, "v-base")
    before = []
    for _ in range(3):
        clock.offset += 10
        before.append(registry.publish(tmp_path, fitted, make_current=False))
    clock.offset -= 3600
    after = []
    for _ in range(3):
        clock.offset += 10
        after.append(registry.publish(tmp_path, fitted, make_current=False))
        (tmp_path / f"{after[-1]}.report.json").write_text("{}\n")
        prune(tmp_path, keep=2, also_keep={after[-1]})
    left = sorted(p.name.removesuffix(".dhag") for p in tmp_path.glob("*.dhag"))
    assert left == sorted(["v-base", *after[-2:]])
    assert (tmp_path / f"{after[-2]}.report.json").exists()
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0
    listed = [
        line.split()[0].lstrip("*") or line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]
    ]
    assert listed == ["v-base", *after[-2:]]  # oldest first, in the order they were published
