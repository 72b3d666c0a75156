"""``dhag-pipeline bench``'s options each serve some of its targets; one given to a target it does not
serve (``bench soak --duration 600``, ``bench feedback --minutes 60``) is refused, exit 2, naming the
option and the targets it serves, rather than accepted and ignored, the run going by its default."""

from __future__ import annotations

import pytest

from pipeline.cli import main


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The benchmarks that got as far as running (each returns 0 at once)."""
    import pipeline.bench
    import pipeline.driftbench
    import pipeline.feedbackbench
    import pipeline.plantbench
    import pipeline.readbackbench
    import pipeline.scalebench
    import pipeline.soak
    import pipeline.startsbench

    calls: list[str] = []
    for module, name in (
        (pipeline.bench, "run_bench"),
        (pipeline.plantbench, "run_plant_bench"),
        (pipeline.feedbackbench, "run_feedback_bench"),
        (pipeline.feedbackbench, "run_quiet_feedback_bench"),
        (pipeline.soak, "run_soak"),
        (pipeline.scalebench, "run_scale_bench"),
        (pipeline.driftbench, "run_drift_bench"),
        (pipeline.startsbench, "run_starts_bench"),
        (pipeline.readbackbench, "run_readback_bench"),
    ):
        monkeypatch.setattr(module, name, lambda *_a, name=name, **_k: calls.append(name) or 0)
    return calls


@pytest.mark.parametrize(
    ("argv", "option", "serves"),
    [
        (["soak", "--duration", "600"], "--duration", "pipeline"),
        (["feedback", "--minutes", "60"], "--minutes", "plant, soak, starts, readback"),
        (["--seed", "3"], "--seed", "plant, drift, feedback, starts, readback"),
        (["readback", "--replicas", "2"], "--replicas", "scale"),
        (["starts", "--days", "3"], "--days", "drift"),
        (["scale", "--rate", "100"], "--rate", "pipeline, soak"),
        (["plant", "--records", "5000"], "--records", "pipeline, scale"),
        (["drift", "--detectors", "dhag"], "--detectors", "plant"),
        (["soak", "--replicas", "2"], "--replicas", "scale"),
        (["pipeline", "--days", "3"], "--days", "drift"),
        (["feedback", "--normal-hours", "2"], "--normal-hours", "plant"),
    ],
)
def test_an_option_the_target_does_not_use_is_refused(
    argv: list[str], option: str, serves: str, ran: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    target = argv[0] if not argv[0].startswith("-") else "pipeline"
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert (
        f"bench {target}: {option} does nothing for {target}" in err
        and f"it is an option of {serves} only" in err
    )
    assert ran == []


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["--records", "5000", "--rate", "100", "--duration", "5"], "run_bench"),
        (["soak", "--minutes", "1", "--rate", "100", "--interval", "5"], "run_soak"),
        (["scale", "--records", "5000", "--replicas", "2"], "run_scale_bench"),
        (["feedback", "--seed", "1", "--assets", "3"], "run_feedback_bench"),
        (["drift", "--days", "3", "--history-hours", "2"], "run_drift_bench"),
        (
            ["starts", "--seed", "1", "--assets", "3", "--minutes", "60", "--history-hours", "2"],
            "run_starts_bench",
        ),
        (
            ["readback", "--seed", "1", "--assets", "3", "--minutes", "60", "--history-hours", "2"],
            "run_readback_bench",
        ),
    ],
)
def test_the_options_a_target_uses_are_taken(argv: list[str], target: str, ran: list[str]) -> None:
    assert main(["bench", *argv]) == 0
    assert ran == [target]
