"""Shared fixtures: synthetic plant data and one small fitted model for the whole session."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings
from plant_data import FEATURES, gross_outliers, normal

from dhag import DHAG
from dhag.cli import main as dhag_main
from pipeline.broker import EmbeddedBroker
from pipeline.registry import publish

# Torch's first call in a process is slow; Hypothesis would report that as a flaky deadline.
# `make test` (and so CI) draws the same examples on every run, so a red run can be reproduced and a
# change is never refused for a case an unrelated run happened to draw; `make fuzz` draws new ones
# (DHAG_HYPOTHESIS=fuzz), many more of them, and every case it finds becomes an @example.
settings.register_profile("dhag", deadline=None, max_examples=60, derandomize=True)
settings.register_profile("fuzz", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("DHAG_HYPOTHESIS", "dhag"))
# The tests that sign models set their own key; one from the developer's shell would refuse every
# model the others write and read unsigned.
os.environ.pop("DHAG_ARTIFACT_KEY", None)
os.environ.pop("DHAG_ARTIFACT_PREVIOUS_KEY", None)


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A command run in-process sets the root logger up for itself (its handler writes to that test's
    captured stderr, closed once the test ends): each test leaves the root and kafka loggers, and the
    exception hooks that log through them, as it found them, so a later test's log line never reaches
    a closed stream."""
    root, kafka = logging.getLogger(), logging.getLogger("kafka")
    handlers, level, kafka_level = list(root.handlers), root.level, kafka.level
    hooks = sys.excepthook, threading.excepthook  # the command's set-up logs uncaught exceptions
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        kafka.setLevel(kafka_level)
        sys.excepthook, threading.excepthook = hooks


@pytest.fixture(scope="session")
def train_rows() -> np.ndarray:
    """1000 normal rows of the synthetic plant (read-only: tests must not modify it)."""
    rows = normal(np.random.default_rng(0), 1000)
    rows.flags.writeable = False
    return rows


@pytest.fixture(scope="session")
def fitted(train_rows: np.ndarray) -> DHAG:
    """A DHAG trained on ``train_rows`` (about a second). Tests must not refit it."""
    return DHAG(max_epochs=15, batch_size=128, feature_names=FEATURES, random_state=0).fit(train_rows)


@pytest.fixture(scope="session")
def saved(fitted: DHAG, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fitted`` saved once, with user metadata. Tests copy it before damaging it."""
    return fitted.save(tmp_path_factory.mktemp("registry") / "plant.dhag", metadata={"version": 3})


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test."""
    return np.random.default_rng(12345)


@pytest.fixture
def save_without_setting() -> Callable[[DHAG, Path, str], Path]:
    """Saves a model as an artifact written before ``setting`` existed: its manifest lacks the key."""

    def save(model: DHAG, path: Path, setting: str) -> Path:
        import dhag.artifact

        recorded = dhag.artifact.settings_as_trained
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                dhag.artifact,
                "settings_as_trained",
                lambda est: {k: v for k, v in recorded(est).items() if k != setting},
            )
            return model.save(path)

    return save


@pytest.fixture
def quick_model() -> Callable[..., DHAG]:
    """A factory of DHAGs that fit in a fraction of a second, for tests of behaviour, not quality."""

    def make(**overrides: Any) -> DHAG:
        return DHAG(**({"max_epochs": 2, "batch_size": 64, "random_state": 0} | overrides))

    return make


@pytest.fixture(scope="session")
def tansu() -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the session's integration tests; always stopped at the end."""
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def model_registry(fitted: DHAG, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry folder whose current model is ``fitted``, published as version ``v1``."""
    root = tmp_path_factory.mktemp("registry")
    publish(root, fitted, "v1")
    return root


@pytest.fixture
def registry(fitted: DHAG, tmp_path: Path) -> Path:
    """A fresh model registry of this test whose current version is ``fitted`` as "v1"."""
    root = tmp_path / "registry"
    publish(root, fitted, "v1")
    return root


@pytest.fixture(scope="module")
def history() -> Any:
    """Two simulated hours of three assets, one of each machine type (a pandas frame, as the
    simulator writes it)."""
    from pipeline.simulator import Fleet

    return Fleet(3, seed=11, run=0).run(2 * 3600, 10.0)


@pytest.fixture(scope="module")
def plant_model(history: Any) -> DHAG:
    """A plant model trained on ``history`` for two epochs (once per test module that asks)."""
    from pipeline.plantmodel import train_plant_model

    return train_plant_model(history, seed=0, max_epochs=2, time_budget=None)


# -- the small files and the model of the `dhag` command-line tests (test_cli*.py) ---------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    gen = np.random.default_rng(3)
    train = pd.DataFrame(normal(gen, 600), columns=FEATURES)
    train["label"] = 0
    known = pd.DataFrame(gross_outliers(gen, 20), columns=FEATURES)
    known["label"] = 1
    pd.concat([train, known]).to_csv(root / "train.csv", index=False)
    test = pd.DataFrame(np.vstack([normal(gen, 40), gross_outliers(gen, 10)]), columns=FEATURES)
    test.to_csv(root / "test.csv", index=False)
    np.savez(root / "test.npz", X=test.to_numpy(), feature_names=np.array(FEATURES))
    return {"root": root, "train": root / "train.csv", "test": root / "test.csv", "npz": root / "test.npz"}


@pytest.fixture(scope="module")
def model_path(files: dict[str, Path]) -> Path:
    out = files["root"] / "model.dhag"
    code = dhag_main(
        [
            "train",
            "--data",
            str(files["train"]),
            "--out",
            str(out),
            "--label-column",
            "label",
            "--max-epochs",
            "5",
            "--quiet",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    return out
