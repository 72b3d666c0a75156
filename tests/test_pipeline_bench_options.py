"""``dhag-pipeline bench``'s options: a number no benchmark can run with is refused by the parser, exit 2,
naming the option, before a model is trained or a broker started."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--records", "0"], "--records"),
        (["--records", "-5"], "--records"),
        (["--rate", "0"], "--rate"),
        (["--duration", "nan"], "--duration"),
        (["--duration", "inf"], "--duration"),
        (["--duration", "0"], "--duration"),
        (["plant", "--seed", "-1"], "--seed"),
        (["plant", "--assets", "0"], "--assets"),
        (["plant", "--minutes", "-1"], "--minutes"),
        (["soak", "--minutes", "nan"], "--minutes"),
        (["soak", "--minutes", "inf"], "--minutes"),
        (["drift", "--history-hours", "0"], "--history-hours"),
        (["plant", "--history-hours", "inf"], "--history-hours"),
        (["plant", "--normal-hours", "-1"], "--normal-hours"),
        (["plant", "--normal-hours", "nan"], "--normal-hours"),
        (["feedback", "--quiet-hours", "nan"], "--quiet-hours"),
        (["feedback", "--quiet-hours", "-2"], "--quiet-hours"),
        (["soak", "--interval", "inf"], "--interval"),
        (["scale", "--replicas", "0"], "--replicas"),
        (["drift", "--days", "inf"], "--days"),
    ],
)
def test_a_number_out_of_range_is_refused_by_the_parser(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["bench", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: must be" in err and "Traceback" not in err


def test_zero_hours_still_mean_none_where_the_help_says_so() -> None:
    from pipeline.cli import _parser

    args = _parser().parse_args(
        ["bench", "plant", "--normal-hours", "0", "--quiet-hours", "0", "--seed", "0"]
    )
    assert (args.normal_hours, args.quiet_hours, args.seed) == (0.0, 0.0, 0)


@pytest.mark.parametrize(
    "target", ["pipeline", "plant", "feedback", "soak", "scale", "drift", "starts", "readback"]
)
def test_a_json_that_is_a_folder_is_refused_before_the_benchmark(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pipeline.bench
    import pipeline.driftbench
    import pipeline.feedbackbench
    import pipeline.plantbench
    import pipeline.readbackbench
    import pipeline.scalebench
    import pipeline.soak
    import pipeline.startsbench

    def started(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("the benchmark started")

    for module, name in (
        (pipeline.bench, "run_bench"),
        (pipeline.plantbench, "run_plant_bench"),
        (pipeline.feedbackbench, "run_feedback_bench"),
        (pipeline.soak, "run_soak"),
        (pipeline.scalebench, "run_scale_bench"),
        (pipeline.driftbench, "run_drift_bench"),
        (pipeline.startsbench, "run_starts_bench"),
        (pipeline.readbackbench, "run_readback_bench"),
    ):
        monkeypatch.setattr(module, name, started)
    assert main(["bench", target, "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--json {str(tmp_path)!r} is a folder" in err and "nothing was run" in err


def test_a_json_under_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes").write_text("a file, not a folder\n")
    assert main(["bench", "--records", "1", "--json", str(tmp_path / "notes" / "b.json")]) == 2
    assert "is not a folder; nothing was run" in capsys.readouterr().err


@pytest.fixture
def plant_never_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench plant`` fails its test if it gets as far as running."""
    import pipeline.plantbench

    def started(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("the benchmark started")

    monkeypatch.setattr(pipeline.plantbench, "run_plant_bench", started)


def test_a_detector_named_twice_is_refused_before_the_plant_runs(
    plant_never_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "plant", "--detectors", "dhag", "hst", "dhag"]) == 2
    assert "bench plant: --detectors names 'dhag' more than once" in capsys.readouterr().err


def test_a_seed_past_the_models_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["bench", "drift", "--seed", "4294967296"])
    assert stop.value.code == 2 and "argument --seed: must be" in capsys.readouterr().err


def test_plant_seeds_past_the_models_range_are_refused(
    plant_never_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "plant", "--seed", "4294967295", "--seeds", "2"]) == 2
    err = capsys.readouterr().err
    assert "bench plant: --seed" in err and "--seeds" in err and "4294967295" in err


@pytest.fixture
def no_bench_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every benchmark ``bench`` can run fails its test if it gets as far as running."""
    import pipeline.driftbench
    import pipeline.feedbackbench
    import pipeline.plantbench
    import pipeline.startsbench

    def started(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("the benchmark started")

    for module, name in (
        (pipeline.plantbench, "run_plant_bench"),
        (pipeline.feedbackbench, "run_feedback_bench"),
        (pipeline.feedbackbench, "run_quiet_feedback_bench"),
        (pipeline.driftbench, "run_drift_bench"),
        (pipeline.startsbench, "run_starts_bench"),
        (pipeline.readbackbench, "run_readback_bench"),
    ):
        monkeypatch.setattr(module, name, started)


@pytest.mark.parametrize(
    ("argv", "option", "least"),
    [
        # history rows come every 30 s and training needs 2 of them: 60 s, 1/60 h
        (["plant", "--history-hours", "0.001"], "--history-hours 0.001", "0.0167"),
        (["plant", "--history-hours", "0.0166"], "--history-hours 0.0166", "0.0167"),
        (["drift", "--history-hours", "0.001"], "--history-hours 0.001", "0.0167"),
        (["starts", "--history-hours", "0.001"], "--history-hours 0.001", "0.0167"),
        # the starts bench streams a reading of each asset every 10 s
        (["starts", "--minutes", "0.1"], "--minutes 0.1", "0.1667"),
        (["readback", "--minutes", "0.1"], "--minutes 0.1", "0.1667"),
        (["readback", "--history-hours", "0.001"], "--history-hours 0.001", "0.0167"),
        # one asset: hst calibrates on one history row in 10, so 10 readings (300 s) are the least
        (["plant", "--history-hours", "0.05", "--assets", "1"], "--history-hours 0.05", "0.0834"),
        # the fault-free hours are read every 2 s: one reading, 1/1800 h
        (["plant", "--normal-hours", "0.0001"], "--normal-hours 0.0001", "0.0006"),
        # the feedback bench's quiet hours are read every 10 s
        (["feedback", "--quiet-hours", "0.001"], "--quiet-hours 0.001", "0.0028"),
    ],
)
def test_a_span_too_short_for_a_reading_is_refused_before_the_benchmark(
    argv: list[str], option: str, least: str, no_bench_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert f"bench {argv[0]}: {option} " in err and f"at least {least}" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["plant", "--history-hours", "0.0167", "--minutes", "30", "--normal-hours", "0.0006"], "plant"),
        (["plant", "--normal-hours", "0"], "plant"),
        (["plant", "--history-hours", "0.0834", "--assets", "1"], "plant"),
        (["plant", "--history-hours", "0.0167", "--assets", "1", "--detectors", "dhag", "sigma3"], "plant"),
        (["drift", "--history-hours", "0.0167"], "drift"),
        (["starts", "--history-hours", "0.0167", "--minutes", "0.1667"], "starts"),
        (["readback", "--history-hours", "0.0167", "--minutes", "0.1667"], "readback"),
        (["feedback", "--quiet-hours", "0.0028"], "quiet"),
        (["feedback", "--quiet-hours", "0"], "feedback"),
    ],
)
def test_the_least_span_said_is_taken_and_zero_still_means_none(
    argv: list[str], target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.driftbench
    import pipeline.feedbackbench
    import pipeline.plantbench
    import pipeline.readbackbench
    import pipeline.startsbench

    ran: list[str] = []
    for module, name, said in (
        (pipeline.plantbench, "run_plant_bench", "plant"),
        (pipeline.feedbackbench, "run_feedback_bench", "feedback"),
        (pipeline.feedbackbench, "run_quiet_feedback_bench", "quiet"),
        (pipeline.driftbench, "run_drift_bench", "drift"),
        (pipeline.startsbench, "run_starts_bench", "starts"),
        (pipeline.readbackbench, "run_readback_bench", "readback"),
    ):
        monkeypatch.setattr(module, name, lambda *_a, said=said, **_k: ran.append(said) or 0)
    assert main(["bench", *argv]) == 0
    assert ran == [target]
