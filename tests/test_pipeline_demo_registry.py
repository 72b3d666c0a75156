"""``dhag-pipeline demo`` and the registry it is given: it never makes its model current (nor has its
retrainer promote or prune) in a registry whose current model it did not train, as a real plant's
registry reached through a user's ``--config``; ``--registry DIR`` gives it a folder of its own."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dhag import DHAG
from pipeline.registry import publish

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--assets", "4", "--speedup", "30", "--fault-rate", "6", "--every", "5", "--operator-delay", "1"]
TRAIN = ["--history-hours", "2", "--max-epochs", "3", "--time-budget", "5"]


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a registry folder with its content (what a daemon serving it would see), but its
    locks: the registry's ``.lock`` and the ``.retrainer.lock`` a retrainer takes as it starts."""
    locks = {".lock", ".retrainer.lock"}
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file() and p.name not in locks}


def _plant_registry(tmp_path: Path, model: DHAG, metadata: dict[str, Any]) -> tuple[Path, Path]:
    """A real plant's registry, ``prod1`` current, and a config that names it (as a user's would)."""
    model = copy.deepcopy(model)  # the fixtures' models are shared
    model.metadata_ = dict(getattr(model, "metadata_", None) or {}) | metadata
    registry = tmp_path / "plant-registry"
    publish(registry, model, "prod1")
    config = tmp_path / "plant.yaml"
    config.write_text(f"model:\n  registry: {registry}\nmetrics:\n  port: 0\nshutdown_grace_s: 10\n")
    return registry, config


def _demo(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pipeline", "demo", *ARGS, *TRAIN, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


@pytest.fixture(params=["dhag-model-on-other-columns", "plant-model-of-another-history"])
def plant(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    if request.param == "dhag-model-on-other-columns":
        return _plant_registry(tmp_path, request.getfixturevalue("fitted"), {})
    # What `dhag-pipeline models train HISTORY` publishes: a plant model, its fleet the history's.
    model = request.getfixturevalue("plant_model")
    return _plant_registry(tmp_path, model, {"fleet": {"history": "/data/plant-history.csv"}})


@pytest.mark.integration
def test_the_demo_refuses_a_registry_whose_current_model_it_did_not_train(
    tmp_path: Path, plant: tuple[Path, Path]
) -> None:
    # Before: "model: prod1 in ... was not trained for this plant; training a new one", then its model
    # published and made current there: the plant's daemon loaded the demo's model at its next reload.
    registry, config = plant
    before = _snapshot(registry)
    done = _demo(tmp_path, "--config", str(config), "--duration", "3", "--no-retrain")
    assert _snapshot(registry) == before, done.stdout[-2000:]
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"demo: model.registry {registry} has current model 'prod1', ")
    assert "the demo did not train" in lines[0] and "--registry DIR" in lines[0]
    assert done.stdout == ""  # nothing trained, no broker, no daemon


@pytest.mark.integration
def test_the_demo_with_a_registry_of_its_own_leaves_the_configured_one(tmp_path: Path, fitted: DHAG) -> None:
    # --registry DIR: the demo trains there, its daemon serves and its retrainer promotes from there;
    # the config's model.registry (a real plant's) is left as it was. Before: no such option (exit 2).
    registry, config = _plant_registry(tmp_path, fitted, {})
    before = _snapshot(registry)
    done = _demo(tmp_path, "--config", str(config), "--registry", "demo-models", "--duration", "20")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _snapshot(registry) == before
    own = tmp_path / "demo-models"
    assert done.stdout.startswith(f"model: none in {own}; training one")
    started = (own / "current").read_text().strip()
    assert f"trained and published {started} in" in done.stdout
    assert f"scoring with model {started}" in done.stdout
    # The retrainer names the registry it was given in its start log.
    assert f"model.registry {own};" in done.stderr and f"model.registry {registry}" not in done.stderr


def _demo_model(model: DHAG, fleet: dict[str, Any]) -> DHAG:
    model = copy.deepcopy(model)
    model.metadata_ = dict(getattr(model, "metadata_", None) or {}) | {"fleet": fleet}
    return model


def test_the_registries_the_demo_writes_to(tmp_path: Path, plant_model: DHAG, fitted: DHAG) -> None:
    from pipeline.demo import DemoOptions
    from pipeline.demoregistry import refusal

    # A fresh one (make run's first start: no folder, or an empty one) and one whose current model the
    # demo trained (for this plant, another seed, or promoted by its retrainer) are its own.
    assert refusal(tmp_path / "none", "model.registry") is None
    (tmp_path / "empty").mkdir()
    assert refusal(tmp_path / "empty", "model.registry") is None
    publish(tmp_path / "demo", _demo_model(plant_model, DemoOptions(seed=5).fleet()), "d1")
    assert refusal(tmp_path / "demo", "model.registry") is None

    # Any other: what a daemon serving it would load cannot be changed.
    publish(tmp_path / "unpointed", fitted, "v1", make_current=False)
    said = refusal(tmp_path / "unpointed", "--registry")
    assert said is not None and said.startswith(f"demo: --registry {tmp_path / 'unpointed'} holds model ")
    assert "but none is current" in said and "another folder" in said
    damaged = tmp_path / "damaged"
    publish(damaged, _demo_model(plant_model, DemoOptions().fleet()), "d1")
    (damaged / "current").write_text("not a version!")
    assert "has a current pointer that cannot be read" in (refusal(damaged, "model.registry") or "")
    unreadable = tmp_path / "unreadable"
    publish(unreadable, _demo_model(plant_model, DemoOptions().fleet()), "d1")
    (unreadable / "d1.dhag").write_bytes(b"truncated")
    assert "which cannot be read (damaged)" in (refusal(unreadable, "model.registry") or "")
    (unreadable / "d1.dhag").unlink()
    assert "but " in (said := refusal(unreadable, "model.registry") or "") and "does not exist" in said


def test_a_demo_model_of_another_plant_is_replaced_as_before(tmp_path: Path, plant_model: DHAG) -> None:
    import io

    from pipeline.config import load_settings
    from pipeline.demo import DemoOptions, ensure_model
    from pipeline.registry import current, load_current

    registry = tmp_path / "registry"
    publish(registry, _demo_model(plant_model, DemoOptions(seed=5).fleet()), "d1")
    settings = load_settings(None, {"DHAG_PIPELINE_MODEL__REGISTRY": str(registry)})
    opts = DemoOptions(assets=2, history_hours=1, max_epochs=1, time_budget=5)
    out = io.StringIO()
    version = ensure_model(settings, opts, out)
    assert "d1 in" in out.getvalue() and "was not trained for this plant" in out.getvalue()
    assert current(registry)[0] == version != "d1"
    # Trained from a simulated history, not from d1: no parent (before, d1 was recorded as its parent).
    assert load_current(registry)[1].metadata_["parent"] is None


def test_composes_demo_model_leaves_a_registry_with_a_real_plants_model(tmp_path: Path, fitted: DHAG) -> None:
    # compose's --profile demo publishes its model into the registry volume the daemon serves.
    registry, _config = _plant_registry(tmp_path, fitted, {})
    before = _snapshot(registry)
    service = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["demo-model"]
    assert service["entrypoint"] == ["python", "-c"]
    code = service["command"][0].replace("/app/config.yaml", str(ROOT / "config.yaml"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "DHAG_PIPELINE_MODEL__REGISTRY": str(registry)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert _snapshot(registry) == before
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"demo: model.registry {registry} has current model 'prod1', ")
    assert lines[0].endswith("; start compose without --profile demo")


@pytest.mark.integration
def test_a_model_made_current_while_the_demo_runs_stops_it(tmp_path: Path, fitted: DHAG) -> None:
    # `dhag-pipeline models train` with the same settings while `make run` runs makes a real plant's
    # model current in the demo's registry. Before, the demo ran on: its daemon scored the simulated
    # plant with that model, and its retrainer trained from it, promoted over it and pruned beside it.
    own = tmp_path / "demo-models"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "DHAG_PIPELINE_METRICS__PORT": "0"}
    env |= {"DHAG_PIPELINE_SHUTDOWN_GRACE_S": "10"}
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "demo",
        *ARGS,
        *TRAIN,
        "--registry",
        str(own),
        "--duration",
        "120",
    ]
    with (tmp_path / "stderr").open("w") as err:
        demo = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True, cwd=tmp_path)
    assert demo.stdout is not None
    try:
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("plant: "):
                break
        plant = copy.deepcopy(fitted)
        plant.metadata_ = {"fleet": {"history": "/data/plant-history.csv"}}
        publish(own, plant, "prod1")
        after = _snapshot(own)
        code = demo.wait(60)
    finally:
        demo.kill()
    out = "".join(lines) + demo.stdout.read()
    assert code == 2, out[-3000:]
    said = f"demo: --registry {own} has current model 'prod1', which the demo did not train, made current "
    assert said in out and "summary: " in out
    assert _snapshot(own) == after  # nothing promoted, published or pruned since
