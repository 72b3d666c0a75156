"""The benchmark loaders against the protocol in shared/datasets/README.md: counts, splits, z-scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dhag.bench.datasets import (
    DatasetNotFoundError,
    check_files,
    load_semisup_split,
    load_split,
    n_labelled_for,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark datasets not found at {DATA}")

# name -> (train rows, test normals, test anomalies, features), from the README's table and protocol.
COUNTS = {
    "thyroid": (1839, 1840, 93, 6),
    "pageblocks": (2456, 2457, 560, 10),
    "shuttle": (500, 500, 13, 9),
    "kdd": (198_371, 198_372, 97_278, 121),
    "kddrev": (48_639, 48_639, 24_319, 121),
}


def _check_counts(name: str) -> None:
    split = load_split(name, seed=0, data_dir=DATA)
    n_train, n_test_normal, n_anomalies, n_features = COUNTS[name]
    assert split.X_train.shape == (n_train, n_features)
    assert split.X_test.shape == (n_test_normal + n_anomalies, n_features)
    assert int(split.y_test.sum()) == n_anomalies
    assert int((split.y_test == 0).sum()) == n_test_normal
    assert len(split.feature_names) == n_features
    assert np.isfinite(split.X_train).all() and np.isfinite(split.X_test).all()


@needs_data
@pytest.mark.parametrize("name", ["thyroid", "pageblocks", "shuttle"])
def test_small_datasets_match_the_protocol_counts(name: str) -> None:
    _check_counts(name)


@needs_data
@pytest.mark.parametrize("name", ["thyroid", "pageblocks", "shuttle"])
def test_training_columns_are_standardised(name: str) -> None:
    split = load_split(name, seed=1, data_dir=DATA)
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-9)
    std = split.X_train.std(axis=0)
    # A column constant in training keeps std 0 (its std counted as 1); every other one has std 1.
    np.testing.assert_allclose(std[std > 0], 1.0, rtol=1e-9)


@needs_data
def test_thyroid_ratio_and_fixed_split() -> None:
    a, b = load_split("thyroid", 0, DATA), load_split("thyroid", 3, DATA)
    assert round(100 * a.anomaly_ratio, 2) == 4.81
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.X_test, b.X_test)


@needs_data
@pytest.mark.parametrize("name", ["pageblocks", "shuttle"])
def test_seeds_change_random_splits_and_repeat_exactly(name: str) -> None:
    a, a2, b = load_split(name, 0, DATA), load_split(name, 0, DATA), load_split(name, 1, DATA)
    np.testing.assert_array_equal(a.X_train, a2.X_train)
    assert not np.array_equal(a.X_train, b.X_train)


@needs_data
def test_kdd_and_kddrev_counts_and_untouched_one_hots() -> None:
    # Parsing the 494,021-row file takes a few seconds; it is cached, so both datasets share it.
    for name in ("kdd", "kddrev"):
        _check_counts(name)
    split = load_split("kddrev", seed=0, data_dir=DATA)
    assert len(split.passthrough) == 121 - 34
    onehot = np.isin(np.asarray(split.feature_names), split.passthrough)
    assert set(np.unique(split.X_train[:, onehot])) <= {0.0, 1.0}
    assert set(np.unique(split.X_test[:, onehot])) <= {0.0, 1.0}
    # Every row has exactly one category per symbolic column.
    np.testing.assert_array_equal(split.X_train[:, onehot].sum(axis=1), 7.0)
    np.testing.assert_allclose(split.X_train[:, ~onehot].mean(axis=0), 0.0, atol=1e-9)
    other = load_split("kddrev", seed=1, data_dir=DATA)
    assert not np.array_equal(split.X_test[-100:], other.X_test[-100:])  # anomaly draw follows the seed


@needs_data
@pytest.mark.parametrize("gamma, n_labelled", [(0.0, 0), (0.01, 22), (0.02, 45)])
def test_semisup_thyroid_split(gamma: float, n_labelled: int) -> None:
    split = load_semisup_split(gamma, seed=0, data_dir=DATA)
    assert split.y_train is not None
    n_normal = int((split.y_train == 0).sum())
    assert n_normal == 2207 and int(split.y_train.sum()) == n_labelled  # 60% of 3679 normals
    assert n_labelled == n_labelled_for(gamma, n_normal)
    assert split.X_test.shape == (1472 + 38, 6) and int(split.y_test.sum()) == 38
    np.testing.assert_allclose(split.X_train[split.y_train == 0].mean(axis=0), 0.0, atol=1e-9)
    other = load_semisup_split(gamma, seed=1, data_dir=DATA)
    assert not np.array_equal(split.X_test, other.X_test)


def test_gamma_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="gamma"):
        n_labelled_for(1.0, 100)


def test_missing_folder_names_the_expected_path_and_source(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as info:
        load_split("thyroid", 0, missing)
    message = str(info.value)
    assert str((missing / "thyroid" / "thyroid.mat").resolve()) in message
    assert "does not exist" in message and "ODDS" in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_kdd_file_is_reported_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "kddcup99").mkdir()
    with pytest.raises(DatasetNotFoundError, match="kddcup.data_10_percent.gz"):
        check_files(["kddrev"], tmp_path)


def test_unknown_dataset_is_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_split("mnist", 0, DATA)
