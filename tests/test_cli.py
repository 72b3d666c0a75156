"""The ``dhag`` command line: train, score, info, and its errors, on small files."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plant_data import FEATURES, normal

from dhag import DHAG, load_model
from dhag.cli import build_parser, main


def test_train_writes_a_model_that_knows_its_labelled_anomalies(model_path: Path, capsys) -> None:
    model = load_model(model_path)
    assert model.feature_names_in_ == FEATURES
    assert model.training_["n_known_anomalies"] == 20
    assert model.metadata_["source"].endswith("train.csv")


def test_score_writes_scores_flags_and_explanations(files, model_path: Path) -> None:
    out = files["root"] / "scores.csv"
    assert (
        main(
            [
                "score",
                "--model",
                str(model_path),
                "--data",
                str(files["test"]),
                "--out",
                str(out),
                "--explain",
                "2",
            ]
        )
        == 0
    )
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["score", "anomaly", "top_features"]
    assert len(scored) == 50 and scored["score"].between(0, 1).all()
    # The gross outliers are the last ten rows: they must outscore the normal rows on average.
    assert scored["score"].iloc[40:].mean() > scored["score"].iloc[:40].mean()
    flagged = scored[scored["anomaly"] == 1]
    assert scored["anomaly"].iloc[40:].mean() >= 0.9  # the gross outliers are flagged, so named
    # Two features named per flagged gross outlier; a normal row flagged may have fewer that raise it.
    assert flagged["top_features"].iloc[-10:].str.count(";").eq(1).all()
    assert (
        flagged["top_features"].str.count(";").le(1).all() and flagged["top_features"].str.len().gt(0).all()
    )


def test_a_negative_explain_count_is_bad_input_exit_2_before_any_work(files, capsys, monkeypatch) -> None:
    monkeypatch.setattr("dhag.scorecmd.load_model", lambda *a, **k: pytest.fail("loaded the model first"))
    argv = ["score", "--model", "m.dhag", "--data", str(files["test"]), "--explain", "-1"]
    assert main(argv) == 2  # was a SystemExit with a message: exit 1
    assert "--explain must be 0 (none) or a count of features" in capsys.readouterr().err


def test_score_reads_npz_like_csv(files, model_path: Path, capsys) -> None:
    assert main(["score", "--model", str(model_path), "--data", str(files["npz"])]) == 0
    from_npz = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert main(["score", "--model", str(model_path), "--data", str(files["test"])]) == 0
    from_csv = pd.read_csv(io.StringIO(capsys.readouterr().out))
    np.testing.assert_allclose(from_npz["score"], from_csv["score"])


def test_info_describes_the_model(model_path: Path, capsys) -> None:
    assert main(["info", str(model_path)]) == 0
    text = capsys.readouterr().out
    assert "features (4): flow_a, flow_b, flow_total, vibration" in text
    assert "training ranges: flow_a [" in text and "vibration [" in text
    assert "20 known anomalies" in text and "training health" in text
    assert "outlier probe" in text and "final lambda_norm" in text
    assert "5 epochs (kept epoch 5, max_epochs)" in text
    t = load_model(model_path).training_
    # 600 normal rows: a tenth held out for the threshold, the rest trained on beside the 20 known anomalies.
    assert (t["n_train"], t["n_validation"]) == (540, 60)
    held_out = "(60 normal rows held out for the threshold)"
    assert f"trained: 540 normal rows and 20 known anomalies {held_out}" in text
    assert main(["info", str(model_path), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["format_version"] == 1 and manifest["feature_names"] == FEATURES
    training = manifest["training"]
    assert training["outlier_probe_auroc"] > 0.9  # pushed rows outscore the rows of a healthy fit
    assert training["lambda_norm_final"] == training["history"][-1]["lambda_norm"]
    assert manifest["settings"]["collapse_retry"] is True
    assert (
        manifest["settings"]["shift_range"] == [2.0, 4.0] and manifest["settings"]["shift_mode"] == "offset"
    )
    # Ten updates leave L_ce above a constant predictor's, so this fit was retried: a second attempt
    # exactly when the first collapsed, and the record's ratio is the kept one's.
    attempts = training["attempts"]
    assert len(attempts) == 1 + attempts[0]["collapsed"]
    assert training["ce_vs_constant"] == attempts[-1]["ce_vs_constant"]


@pytest.mark.parametrize(
    ("rows", "settings", "verdict"),
    [
        # Three repeated patterns: both trainings end level, yet the shifted rows taught the encoder
        # to outscore pushed rows (probe measured 1.000): the fit logs this at INFO, info agrees.
        ("patterns", {"max_epochs": 10}, "(latent game level; the shifted-row anomalies still separate"),
        # A learning rate too small to learn anything: the retry ends level too, probe 0.61.
        ("gauss", {"max_epochs": 3, "lr": 1e-7, "batch_size": 128}, "(COLLAPSED: scores barely separate"),
        ("patterns", {"max_epochs": 10, "collapse_retry": False}, "(COLLAPSED: scores barely separate"),
    ],
)
def test_info_gives_the_fits_verdict_on_a_training_that_ended_level(
    rows: str, settings: dict, verdict: str, tmp_path: Path, capsys
) -> None:
    gen = np.random.default_rng(0)
    patterns = gen.normal(size=(3, 5))[gen.integers(0, 3, 2000)]
    data = patterns if rows == "patterns" else gen.normal(size=(2000, 5))
    model = DHAG(random_state=0, progress=False, **settings).fit(data)
    assert model.training_["collapsed"] is True
    model.save(tmp_path / "m.dhag")
    assert main(["info", str(tmp_path / "m.dhag")]) == 0
    health = [line for line in capsys.readouterr().out.splitlines() if line.startswith("training health")]
    assert len(health) == 1 and verdict in health[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "missing.dhag"], "Cannot read model artifact"),
        (["train", "--data", "missing.csv", "--out", "m.dhag"], "does not exist"),
        # '-' read as a file name: "Data file '-' does not exist", as if a file were missing.
        (["train", "--data", "-", "--out", "{root}/x.dhag"], "rows are not read from standard input"),
        (["train", "--data", "{train}", "--out", "{root}/x.dhag", "--label-column", "nope"], "'nope'"),
        (["score", "--model", "{train}", "--data", "{test}"], "not a readable DHAG model"),
    ],
)
def test_errors_exit_2_with_a_message(files, args: list[str], message: str, capsys) -> None:
    argv = [a.format(train=files["train"], test=files["test"], root=files["root"]) for a in args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_score_says_rows_are_not_read_from_standard_input(model_path: Path, capsys) -> None:
    assert main(["score", "--model", str(model_path), "--data", "-"]) == 2
    assert "Data '-': rows are not read from standard input" in capsys.readouterr().err


def test_info_says_when_the_weights_are_an_average(files, tmp_path: Path, capsys) -> None:
    frame = pd.read_csv(files["train"])
    model = DHAG(max_epochs=5, batch_size=128, random_state=0, average_weights=True)
    path = model.fit(frame[FEATURES]).save(tmp_path / "averaged.dhag")
    assert main(["info", str(path)]) == 0
    # Five epochs; the weights kept are the mean of the last three (the epochs after 5 // 2).
    assert "5 epochs (weights averaged over epochs 3-5, max_epochs)" in capsys.readouterr().out


def test_train_with_members_writes_an_ensemble_that_info_describes(files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ensemble.dhag"
    argv = ["train", "--data", str(files["train"]), "--out", str(out), "--label-column", "label"]
    argv += ["--max-epochs", "3", "--members", "2"]
    assert main([*argv, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ensemble: the mean score of 2 networks (seeds 0, 1000; L_ce at " in text
    assert main(["score", "--model", str(out), "--data", str(files["test"])]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out))
    expected = load_model(out).decision_function(pd.read_csv(files["test"]))
    np.testing.assert_allclose(scored["score"], expected, rtol=1e-6)
    assert main([*argv[:-1], "0"]) == 2
    assert "--members must be an int in [1, 20] (each member is a whole training). Got 0." in (
        capsys.readouterr().err
    )


def test_train_with_snapshots_writes_a_snapshot_ensemble_that_info_describes(
    files, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "snapshots.dhag"
    argv = ["train", "--data", str(files["train"]), "--out", str(out), "--max-epochs", "6"]
    assert main([*argv, "--snapshots", "3", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    # Six epochs: the states after epochs 4, 5 and 6 (the second half), scored by their mean.
    assert (
        "6 epochs (the mean score of the states after epochs 4, 5, 6, max_epochs)" in capsys.readouterr().out
    )
    assert main([*argv, "--snapshots", "0"]) == 2
    assert "--snapshots must be an int >= 1. Got 0." in capsys.readouterr().err


def test_train_with_the_reference_recipe_writes_a_model_that_info_names_it(
    files, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "reference.dhag"
    argv = ["train", "--data", str(files["train"]), "--out", str(out), "--max-epochs", "2", "--quiet"]
    assert main([*argv, "--recipe", "reference", "--ce-weighting", "classes"]) == 0
    model = load_model(out)
    assert (model.recipe, model.ce_weighting) == ("reference", "classes")
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "recipe: reference (networks and regularisers), L_ce weighed by classes" in capsys.readouterr().out
    assert main(argv) == 0  # the defaults: the paper's recipe, row by row
    assert (load_model(out).recipe, load_model(out).ce_weighting) == ("paper", "rows")
    with pytest.raises(SystemExit) as refused:
        main([*argv, "--recipe", "authors"])
    assert refused.value.code == 2


def test_sign_carries_a_model_over_to_a_deployment_that_sets_a_key(
    model_path: Path, files: dict[str, Path], monkeypatch, capsys
) -> None:
    monkeypatch.delenv("DHAG_ARTIFACT_KEY", raising=False)
    signed = files["root"] / "signed.dhag"
    assert main(["sign", str(model_path), "--out", str(signed)]) == 2
    assert "DHAG_ARTIFACT_KEY is not set" in capsys.readouterr().err and not signed.exists()
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    assert main(["info", str(model_path)]) == 2  # the unsigned model no longer loads
    assert "is not signed" in capsys.readouterr().err
    assert main(["sign", str(model_path), "--out", str(signed)]) == 0
    capsys.readouterr()
    assert main(["info", str(signed)]) == 0
    assert "signed: yes" in capsys.readouterr().out
    rows = normal(np.random.default_rng(5), 20)
    monkeypatch.delenv("DHAG_ARTIFACT_KEY")
    before = load_model(model_path).decision_function(rows)
    np.testing.assert_array_equal(load_model(signed).decision_function(rows), before)
    assert main(["info", str(model_path)]) == 0 and "signed: no" in capsys.readouterr().out


def test_sign_re_signs_many_models_when_a_key_is_rotated(
    model_path: Path, files: dict[str, Path], monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "old-secret")
    models = [files["root"] / f"v{n}.dhag" for n in range(3)]
    for path in models:
        assert main(["sign", str(model_path), "--out", str(path)]) == 0
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "new-secret")
    monkeypatch.setenv("DHAG_ARTIFACT_PREVIOUS_KEY", "old-secret")
    capsys.readouterr()
    assert main(["info", str(models[0])]) == 0
    assert "with DHAG_ARTIFACT_PREVIOUS_KEY, the key being rotated out" in capsys.readouterr().out
    assert main(["sign", *map(str, models), "--out", str(files["root"] / "x.dhag")]) == 2
    assert "--out names one file" in capsys.readouterr().err
    # One unreadable file among them is reported, and the ones after it are signed all the same.
    broken = files["root"] / "broken.dhag"
    broken.write_bytes(models[0].read_bytes()[:-100])
    assert main(["sign", str(models[0]), str(broken), *map(str, models[1:])]) == 2
    out, err = capsys.readouterr()
    assert out.count("signed ") == 3 and "1 of 4 models not signed" in err and str(broken) in err
    monkeypatch.delenv("DHAG_ARTIFACT_PREVIOUS_KEY")
    for path in models:
        assert main(["info", str(path)]) == 0 and "signed: yes" in capsys.readouterr().out


def test_a_reader_that_stops_early_ends_score_quietly(model_path: Path, files, tmp_path: Path) -> None:
    # `dhag score ... | head` printed "error: [Errno 32] Broken pipe" and exited 2, as if the input was bad.
    rows = pd.DataFrame(normal(np.random.default_rng(9), 20_000), columns=FEATURES)
    rows.to_csv(tmp_path / "many.csv", index=False)
    command = [
        sys.executable,
        "-m",
        "dhag",
        "score",
        "--model",
        str(model_path),
        "--data",
        str(tmp_path / "many.csv"),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stdout.readline().startswith(b"score,anomaly")
        proc.stdout.close()  # what head does once it has its lines
        err = proc.stderr.read() if proc.stderr else b""
        assert proc.wait(timeout=120) == 141
    assert b"Broken pipe" not in err and b"Traceback" not in err


def test_train_says_how_many_normal_rows_it_trained_on_and_held_out(files, capsys) -> None:
    # The count it printed was of normal rows only, next to the known anomalies, and left out the rows
    # held out to calibrate the threshold: 600 normal rows read as "540 rows (20 known anomalies)".
    out = files["root"] / "summary.dhag"
    argv = ["train", "--data", str(files["train"]), "--out", str(out), "--label-column", "label"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "trained on 540 normal rows and 20 known anomalies (60 normal rows held out for the threshold) in "
    )


def test_train_and_info_count_one_epoch_and_one_known_anomaly_in_the_singular(tmp_path: Path, capsys) -> None:
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(41, 3)), columns=["a", "b", "c"])
    rows["label"] = [1] + [0] * 40
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "m.dhag"
    argv = ["train", "--data", str(tmp_path / "rows.csv"), "--out", str(out), "--label-column", "label"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0
    assert main(["info", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "and 1 known anomaly (" in printed and ": 1 epoch, kept epoch 1" in printed
    assert "), 1 epoch (kept epoch 1" in printed
    assert "1 known anomalies" not in printed and "1 epochs" not in printed


def _defaults_left_unsaid(parser: argparse.ArgumentParser) -> list[str]:
    """Options (and optional arguments) of ``parser`` with a default that matters (not None, not a
    switch's False; a 0 does) whose help text does not say it."""
    return [
        action.option_strings[-1] if action.option_strings else action.dest
        for action in parser._actions
        if not (action.default is None or action.default is False or action.default == argparse.SUPPRESS)
        and "default" not in (action.help or "")
    ]


def _options_unexplained(parser: argparse.ArgumentParser) -> list[str]:
    """Options of ``parser`` that --help lists without a word on what they do."""
    return [
        action.option_strings[-1] for action in parser._actions if action.option_strings and not action.help
    ]


@pytest.mark.parametrize("command", ["train", "score", "bench"])
def test_every_option_of_train_score_and_bench_says_what_it_does_and_its_default(command: str) -> None:
    # dhag bench --help listed --detectors, --device and --progress with no word, and left the defaults
    # of --seeds (5), --rows (200,000), --peer-rows (20,000), --data, ... unsaid.
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert _defaults_left_unsaid(sub.choices[command]) == []
    assert _options_unexplained(sub.choices[command]) == []


@pytest.mark.parametrize("command", ["demo", "bench", "simulate"])
def test_every_option_of_the_demo_the_service_bench_and_simulate_says_its_default(command: str) -> None:
    # dhag-pipeline bench --help left unsaid the target's default (pipeline) and those of --records,
    # --rate, --seed, --assets, --replicas, ..., and named plant and drift only for --seed and --assets,
    # which feedback takes too. simulate --help left unsaid the defaults of --types, --seed, --interval,
    # --truth-topic, --rate, --speedup and --fault-rate.
    from pipeline.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert _defaults_left_unsaid(sub.choices[command]) == []
    assert _options_unexplained(sub.choices[command]) == []
    if command == "bench":
        helps = {a.dest: a.help for a in sub.choices[command]._actions}
        assert helps["seed"].startswith("plant, drift, feedback, starts, readback:")
        assert helps["assets"].startswith("plant, drift, feedback, starts, readback:")
        assert helps["records"].startswith("pipeline, scale:")


def test_a_contribution_that_rounds_to_zero_is_written_without_a_sign(
    files, model_path: Path, capsys, monkeypatch
) -> None:
    # A feature whose reset lowers the score by a hair was written "b:-0.0000" where the drop was
    # negative; one that lowers it by less than 0.00005 is "0.0000", and one that raises it is left out.
    def explain(self, X, top=3, logit_drops=False):  # noqa: ANN001, ANN202
        return [[("flow_a", 0.61, 2.0), ("flow_b", 0.00001, 0.1), ("vibration", -0.00001, -0.1)]] * len(X)

    monkeypatch.setattr(DHAG, "explain", explain)
    assert main(["score", "--model", str(model_path), "--data", str(files["test"]), "--explain", "3"]) == 0
    named = pd.read_csv(io.StringIO(capsys.readouterr().out))["top_features"].dropna()
    assert len(named) and named.eq("flow_a:0.6100;flow_b:0.0000").all()


def test_help_and_the_library_page_say_what_each_exit_status_means(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    readme = " ".join((Path(__file__).parents[1] / "docs" / "library.md").read_text().split())
    exits = ("0 done", "1 an unexpected failure", "2 bad input", "130 interrupted", "143 stopped by SIGTERM")
    for said in (*exits, "141 the reader"):
        assert said in text
        assert f"`{said.split()[0]}` {said.split(' ', 1)[1]}" in readme


def test_retrain_help_says_that_watching_is_what_it_does_without_either_switch() -> None:
    # `dhag-pipeline retrain` alone runs the retrainer as --watch does, but neither its --help nor the
    # service page's synopsis, "retrain --watch | --once", said one of them could be left out.
    from pipeline.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    retrain = sub.choices["retrain"]
    assert retrain.parse_args([]).once is False  # what run_retrain takes for watching
    watch = next(a for a in retrain._actions if "--watch" in a.option_strings)
    assert "default" in (watch.help or "")
