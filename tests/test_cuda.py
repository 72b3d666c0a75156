"""DHAG on a CUDA device: training there, bf16 autocast, and models moving between GPU and CPU.

These run only where CUDA is present (the suite's machines have none; they are run on a GPU machine
with ``python3 -m pytest tests/test_cuda.py --noconftest``, which needs torch, numpy, scipy and
safetensors but not the service's packages). Each compares against the same data on the CPU, so a
model that trained or scored differently on the GPU fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from plant_data import auroc, fault_cluster, gross_outliers, normal, relation_broken

from dhag import DHAG

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SETTINGS = {"max_epochs": 15, "random_state": 0, "progress": False}


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train": normal(rng, 3000),
        "normal": normal(rng, 500),
        "gross": gross_outliers(rng, 250),
        "broken": relation_broken(rng, 250),
        "cluster": fault_cluster(rng, 200),
        "anomalies": np.vstack([gross_outliers(rng, 100), relation_broken(rng, 100)]),
    }


@pytest.fixture(scope="module")
def on_gpu(data: dict[str, np.ndarray]) -> DHAG:
    return DHAG(device="cuda", **SETTINGS).fit(data["train"])


def _assert_detects(model: DHAG, data: dict[str, np.ndarray]) -> None:
    """The floors of the CPU's quality test (tests/test_estimator.py): gross outliers are found, and
    with the relation-breaking rows (which the paper's objective scores near chance) overall above 0.65."""
    normal_scores = model.decision_function(data["normal"])
    gross = model.decision_function(data["gross"])
    assert auroc(normal_scores, gross) >= 0.93
    assert auroc(normal_scores, np.r_[gross, model.decision_function(data["broken"])]) >= 0.65


def test_training_on_the_gpu_keeps_the_network_there_and_separates_anomalies(
    on_gpu: DHAG, data: dict[str, np.ndarray]
) -> None:
    assert on_gpu.device_.type == "cuda"
    assert {p.device.type for p in on_gpu.net_.parameters()} == {"cuda"}
    _assert_detects(on_gpu, data)
    scores = on_gpu.decision_function(data["anomalies"])
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_a_seeded_gpu_training_is_reproduced(on_gpu: DHAG, data: dict[str, np.ndarray]) -> None:
    again = DHAG(device="cuda", **SETTINGS).fit(data["train"])
    np.testing.assert_allclose(
        again.decision_function(data["anomalies"]), on_gpu.decision_function(data["anomalies"]), atol=1e-5
    )


def test_a_gpu_model_saved_scores_the_same_on_the_cpu_and_back_on_the_gpu(
    on_gpu: DHAG, data: dict[str, np.ndarray], tmp_path: Path
) -> None:
    rows = np.vstack([data["normal"], data["anomalies"]])
    path = on_gpu.save(tmp_path / "gpu.dhag")
    on_cpu = DHAG.load(path, device="cpu")
    assert {p.device.type for p in on_cpu.net_.parameters()} == {"cpu"}
    np.testing.assert_allclose(on_cpu.decision_function(rows), on_gpu.decision_function(rows), atol=1e-5)
    assert on_cpu.threshold_ == on_gpu.threshold_
    back = DHAG.load(path, device="cuda")
    np.testing.assert_array_equal(back.decision_function(rows), on_gpu.decision_function(rows))
    assert on_cpu.explain(rows[-3:], top=2)[0][0][0] == back.explain(rows[-3:], top=2)[0][0][0]


def test_a_cpu_model_scores_the_same_on_the_gpu(data: dict[str, np.ndarray], tmp_path: Path) -> None:
    on_cpu = DHAG(device="cpu", **SETTINGS).fit(data["train"])
    loaded = DHAG.load(on_cpu.save(tmp_path / "cpu.dhag"), device="cuda")
    assert loaded.device_.type == "cuda"
    np.testing.assert_allclose(
        loaded.decision_function(data["anomalies"]), on_cpu.decision_function(data["anomalies"]), atol=1e-5
    )


def test_bf16_autocast_trains_a_model_as_good_and_saves_it_in_float32(
    data: dict[str, np.ndarray], tmp_path: Path
) -> None:
    model = DHAG(device="cuda", bf16=True, **SETTINGS)
    assert model.training_config().bf16
    model.fit(data["train"])
    assert {p.dtype for p in model.net_.parameters()} == {torch.float32}
    _assert_detects(model, data)
    loaded = DHAG.load(model.save(tmp_path / "bf16.dhag"), device="cpu")
    np.testing.assert_allclose(
        loaded.decision_function(data["anomalies"]), model.decision_function(data["anomalies"]), atol=1e-5
    )


def test_labelled_anomalies_teach_a_gpu_model_their_type(data: dict[str, np.ndarray]) -> None:
    known = fault_cluster(np.random.default_rng(1), 20)
    x = np.vstack([data["train"], known])
    y = np.r_[np.zeros(len(data["train"])), np.ones(len(known))]
    model = DHAG(device="cuda", **SETTINGS).fit(x, y)
    normal_scores = model.decision_function(data["normal"])
    assert auroc(normal_scores, model.decision_function(data["cluster"])) >= 0.95


def test_a_gpu_training_replays_its_updates_from_a_cuda_graph(
    data: dict[str, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    from dhag.cudagraph import WARMUP_STEPS
    from dhag.modules import DHAGNet
    from dhag.training import train

    x = torch.as_tensor(data["train"], dtype=torch.float32, device="cuda")
    cfg = DHAG(device="cuda", max_epochs=4, batch_size=256, progress=False).training_config()
    results = {}
    for graphed in (True, False):
        torch.manual_seed(0)
        net = DHAGNet(n_features=x.shape[1]).to("cuda")
        gen = torch.Generator(device="cuda").manual_seed(0)
        with caplog.at_level("WARNING", logger="dhag.cudagraph"):
            results[graphed] = train(net, x, dataclasses.replace(cfg, cuda_graph=graphed), generator=gen)
    assert "training on eagerly" not in caplog.text
    steps = results[True].steps
    assert steps == 4 * (len(x) // 256) and results[True].graph_replays == steps - WARMUP_STEPS
    assert results[False].graph_replays == 0
    # The same objective is minimised either way (the noise differs): the last epoch's losses agree.
    graphed_loss, eager_loss = (results[g].history[-1]["loss"] for g in (True, False))
    assert np.isfinite(graphed_loss) and abs(graphed_loss - eager_loss) < 0.25 * abs(eager_loss)


def test_a_learning_rate_a_schedule_changes_reaches_the_graph() -> None:
    from dhag.cudagraph import WARMUP_STEPS, GraphedSteps, capturable_optimizers

    weight = torch.nn.Parameter(torch.ones(4, device="cuda"))
    (opt,) = capturable_optimizers([([weight], 0.1)], torch.device("cuda"))

    def step(xb: torch.Tensor, _kb: object, _gen: object) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = (weight * xb).sum()
        loss.backward()
        opt.step()
        return loss

    stepper = GraphedSteps(step, (opt,), None, torch.device("cuda"))
    x = torch.ones(4, device="cuda")
    for _ in range(WARMUP_STEPS + 2):
        stepper(x, None)
    assert stepper.replays == 2 and stepper.failed is None
    moved = weight.detach().clone()
    opt.param_groups[0]["lr"] = 1e-9  # as a schedule that assigns a new rate does
    stepper.learning_rates_changed()
    stepper(x, None)
    torch.testing.assert_close(weight.detach(), moved)  # a rate near 0: the replayed update moves nothing
    opt.param_groups[0]["lr"].fill_(0.1)
    stepper.learning_rates_changed()
    stepper(x, None)
    assert (weight.detach() < moved).all()
    stepper.close()
