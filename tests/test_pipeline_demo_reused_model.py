"""``dhag-pipeline demo`` given the first model's training options while its registry has a model for
the simulated plant: it reuses that model and says which options it did not apply (``--history-hours``;
``--max-epochs`` and ``--time-budget`` too without its retrainer, whose runs they bound)."""

from __future__ import annotations

import copy
import io
import signal
from pathlib import Path

import pytest

from dhag import DHAG
from pipeline import demo
from pipeline.cli import main
from pipeline.config import load_settings
from pipeline.registry import publish


def _opts_of(monkeypatch, *argv: str) -> demo.DemoOptions:
    """The options ``demo`` builds from ``argv`` (run_demo, which would start the broker, not run)."""
    seen: list[demo.DemoOptions] = []
    monkeypatch.setattr(demo, "run_demo", lambda settings, opts: seen.append(opts) or 0)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}  # demo sets its own
    try:
        assert main(["demo", *argv]) == 0
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    (opts,) = seen
    return opts


@pytest.fixture
def reused(tmp_path: Path, plant_model: DHAG) -> tuple[Path, object]:
    """A registry whose current model the demo trained for its default plant."""
    model = copy.deepcopy(plant_model)
    model.metadata_ = dict(model.metadata_) | {"fleet": demo.DemoOptions().fleet()}
    registry = tmp_path / "registry"
    publish(registry, model, "d1")
    return registry, load_settings(None, {"DHAG_PIPELINE_MODEL__REGISTRY": str(registry)})


@pytest.mark.parametrize(
    ("argv", "unused"),
    [
        (["--history-hours", "72", "--max-epochs", "60"], "--history-hours not applied"),
        (["--max-epochs", "60", "--no-retrain"], "--max-epochs not applied"),
        (
            ["--history-hours", "72", "--time-budget", "5", "--no-retrain"],
            "--history-hours and --time-budget",
        ),
    ],
)
def test_training_options_a_reused_model_ignores_are_said(monkeypatch, reused, argv, unused) -> None:
    registry, settings = reused
    opts = _opts_of(monkeypatch, "--registry", str(registry), *argv)
    out = io.StringIO()
    assert demo.ensure_model(settings, opts, out) == "d1"
    said = out.getvalue()
    # Before: only 'model: reusing d1', so a run given --history-hours 72 for a better model scored
    # with the old one, the option taken and dropped without a word.
    assert said.startswith(f"model: reusing d1 from {registry}\n")
    (note,) = said.splitlines()[1:]
    assert note.strip().startswith(unused) and "--registry NEW_FOLDER" in note
    assert ("--max-epochs" in note) == ("--max-epochs" in argv and "--no-retrain" in argv)


def test_no_note_without_training_options_or_where_the_retrainer_takes_them(monkeypatch, reused) -> None:
    registry, settings = reused
    for argv in ([], ["--max-epochs", "60", "--time-budget", "20"]):
        opts = _opts_of(monkeypatch, "--registry", str(registry), *argv)
        out = io.StringIO()
        assert demo.ensure_model(settings, opts, out) == "d1"
        assert out.getvalue() == f"model: reusing d1 from {registry}\n"
    # The values given still reach the options (the first model's training, the retrainer's runs).
    assert (opts.max_epochs, opts.time_budget, opts.history_hours) == (60, 20.0, 24.0)
