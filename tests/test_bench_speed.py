"""``dhag bench speed``: what it times, what it writes, and the scored model's size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dhag.bench.speed import run_speed
from dhag.cli import main
from dhag.ensemble import DHAGEnsemble
from dhag.estimator import DHAG

TINY = {"rows": 600, "features": 5, "epochs": 2, "score_rows": 2048, "repeats": 2, "warmup_steps": 1}


def test_a_run_reports_positive_rates_and_writes_them(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    result = run_speed(**TINY, score_batch=512, device="cpu", json_path=out)
    assert result == json.loads(out.read_text())
    assert len(result["epoch_seconds_all"]) == 2 and len(result["score_seconds_all"]) == 2
    assert result["train_epoch_seconds"] > 0 and result["score_rows_per_second"] > 0
    # The default batch of 512 leaves one full batch of the 600 rows per epoch.
    assert result["samples_per_epoch"] == 512
    # train_epoch_seconds is rounded to 0.1 ms, a few per cent of so short an epoch.
    assert result["train_samples_per_second"] == pytest.approx(512 / result["train_epoch_seconds"], rel=0.05)
    assert result["meta"]["config"]["score_snapshots"] == 1 and result["device"] == "cpu"


def test_the_scored_model_keeps_the_snapshots_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    networks: list[int] = []
    score = DHAG.score_matrix

    def counting(self: DHAG, matrix):  # noqa: ANN001 - the wrapped method's own signature
        networks.append(len(self.net_.members) if isinstance(self.net_, DHAGEnsemble) else 1)
        return score(self, matrix)

    monkeypatch.setattr(DHAG, "score_matrix", counting)
    out = tmp_path / "speed.json"
    argv = ["bench", "speed", "--rows", "600", "--epochs", "1", "--score-snapshots", "3", "--device", "cpu"]
    assert main([*argv, "--score-rows", "4096", "--json", str(out)]) == 0
    assert set(networks) == {3}
    config = json.loads(out.read_text())["meta"]["config"]
    assert (config["score_snapshots"], config["score_rows"]) == (3, 4096)


def test_the_scored_model_has_the_members_and_recipe_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[tuple[int, set[str]]] = []
    score = DHAG.score_matrix

    def recording(self: DHAG, matrix):  # noqa: ANN001 - the wrapped method's own signature
        nets = self.net_.members if isinstance(self.net_, DHAGEnsemble) else [self.net_]
        seen.append((len(nets), {net.recipe for net in nets}))
        return score(self, matrix)

    monkeypatch.setattr(DHAG, "score_matrix", recording)
    out = tmp_path / "speed.json"
    argv = ["bench", "speed", "--rows", "600", "--epochs", "1", "--score-members", "2", "--device", "cpu"]
    assert main([*argv, "--dhag-recipe", "reference", "--score-rows", "4096", "--json", str(out)]) == 0
    assert set(map(str, seen)) == {str((2, {"reference"}))}
    config = json.loads(out.read_text())["meta"]["config"]
    assert (config["score_members"], config["recipe"], config["score_snapshots"]) == (2, "reference", 1)


@pytest.mark.parametrize("size", ["score_snapshots", "score_members"])
def test_sizes_below_one_are_refused(size: str) -> None:
    with pytest.raises(ValueError, match=size):
        run_speed(**TINY, **{size: 0})


def test_an_unknown_recipe_is_refused() -> None:
    with pytest.raises(ValueError, match="recipe"):
        run_speed(**TINY, recipe="mine")


def test_the_whole_timed_training_is_reported_beside_its_median_epoch() -> None:
    result = run_speed(**{**TINY, "epochs": 3}, device="cpu")
    assert result["train_seconds_total"] == pytest.approx(sum(result["epoch_seconds_all"]), abs=1e-3)
    assert result["meta"]["config"]["bf16"] is False


def test_bf16_off_a_cuda_device_is_refused_before_any_training() -> None:
    # The library trains in float32 off CUDA; a figure labelled bf16 would be a float32 one.
    with pytest.raises(ValueError, match="bf16.*CUDA.*cpu"):
        run_speed(**TINY, device="cpu", bf16=True)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["bench", "speed", "--bf16", "--device", "cpu"], "--bf16 trains on a CUDA device only"),
        (["bench", "table2", "--bf16"], "table2: --bf16 is taken by speed only"),
    ],
)
def test_the_command_refuses_bf16_where_it_would_not_apply(
    argv: list[str], says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dhag.bench

    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the benchmark started")

    monkeypatch.setattr(dhag.bench, "run_speed", started)
    monkeypatch.setattr(dhag.bench, "run_table2", started)
    assert main(argv) == 2
    assert says in capsys.readouterr().err
