"""Loaders for the five benchmark datasets, following the protocol of ``shared/datasets/README.md``.

Every loader returns a :class:`Split` that is already z-scored with training statistics, so DHAG and
the peer detectors all see the same inputs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dhag.exceptions import DHAGError

__all__ = [
    "DATASETS",
    "DEFAULT_DATA_DIR",
    "DatasetNotFoundError",
    "Split",
    "check_files",
    "load_kdd_table",
    "load_semisup_split",
    "load_split",
    "n_labelled_for",
    "power_transformed",
]

logger = logging.getLogger(__name__)

# Resolved from this file rather than the working directory, so the default works wherever the
# command is started from in a source checkout: <repo>/../shared/datasets.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

DATASETS = ("thyroid", "pageblocks", "shuttle", "kdd", "kddrev")

_FILES = {
    "thyroid": (
        "thyroid/thyroid.mat",
        "ODDS (Rayana 2016), https://odds.cs.stonybrook.edu/thyroid-disease-dataset/",
    ),
    "pageblocks": (
        "pageblocks/page-blocks.data",
        "UCI Page Blocks Classification, https://archive.ics.uci.edu/dataset/78/page+blocks+classification",
    ),
    "shuttle": (
        "shuttle/Shuttle_withoutdupl_v01.csv",
        "DAMI outlier benchmark (Campos et al. 2016), file Shuttle_withoutdupl_v01, "
        "https://www.dbs.ifi.lmu.de/research/outlier-evaluation/DAMI/",
    ),
    "kdd": (
        "kddcup99/kddcup.data_10_percent.gz",
        "UCI KDD Cup 1999 (10% subset), https://archive.ics.uci.edu/dataset/130/kdd+cup+1999+data",
    ),
    "kddnames": (
        "kddcup99/kddcup.names",
        "UCI KDD Cup 1999, https://archive.ics.uci.edu/dataset/130/kdd+cup+1999+data",
    ),
}

_PAGEBLOCKS_NAMES = (
    "height",
    "length",
    "area",
    "eccen",
    "p_black",
    "p_and",
    "mean_tr",
    "blackpix",
    "blackand",
    "wb_trans",
)
KDDREV_ANOMALIES = 24_319


class DatasetNotFoundError(DHAGError, FileNotFoundError):
    """A benchmark data file is not where the protocol expects it."""


@dataclass(frozen=True)
class Split:
    """One train/test split, z-scored with training statistics.

    ``y_test`` (and ``y_train`` when present) hold 1 for anomalies. ``passthrough`` names the 0/1
    one-hot columns that were left unscaled and that DHAG must keep as they are.
    """

    name: str
    seed: int
    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    passthrough: tuple[str, ...] = ()
    y_train: np.ndarray | None = None

    @property
    def anomaly_ratio(self) -> float:
        """Fraction of anomalies in the test set."""
        return float(self.y_test.mean())


# -- files -----------------------------------------------------------------------------------------
def _path(data_dir: str | Path, key: str) -> Path:
    relative, source = _FILES[key]
    root = Path(data_dir)
    path = root / relative
    if not path.is_file():
        said = "is a file, not a folder" if root.exists() else "itself does not exist"
        where = "" if root.is_dir() else f" (the data folder {root.resolve()} {said})"
        raise DatasetNotFoundError(
            f"Dataset file not found: expected {path.resolve()}{where}. Get it from {source} and place it "
            f"there, or pass the folder that holds '{relative}' as data_dir. "
            "See shared/datasets/README.md for the expected layout."
        )
    return path


def check_files(names: Sequence[str], data_dir: str | Path = DEFAULT_DATA_DIR) -> None:
    """Raise :class:`DatasetNotFoundError` now if any file that datasets ``names`` need is missing."""
    for name in names:
        if name not in DATASETS:
            raise ValueError(f"Unknown dataset {name!r}. Choose from {', '.join(DATASETS)}.")
        for key in ("kdd", "kddnames") if name in ("kdd", "kddrev") else (name,):
            _path(data_dir, key)


def _read_thyroid(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    from scipy.io import loadmat

    mat = loadmat(_path(data_dir, "thyroid"))
    X = np.asarray(mat["X"], dtype=np.float64)
    y = np.asarray(mat["y"]).ravel().astype(np.int64)
    return X, y, tuple(f"x{i}" for i in range(X.shape[1]))


def _read_pageblocks(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    table = np.loadtxt(_path(data_dir, "pageblocks"), dtype=np.float64)
    X, cls = table[:, :-1], table[:, -1].astype(np.int64)
    return X, (cls != 1).astype(np.int64), _PAGEBLOCKS_NAMES


def _read_shuttle(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    import pandas as pd

    frame = pd.read_csv(_path(data_dir, "shuttle"))
    if frame.columns[-1] != "outlier":
        raise ValueError(f"Expected the last Shuttle column to be 'outlier'. Got {frame.columns[-1]!r}.")
    X = frame.iloc[:, :-1].to_numpy(dtype=np.float64)
    y = frame["outlier"].to_numpy().astype(np.int64)
    return X, y, tuple(str(c) for c in frame.columns[:-1])


# -- KDD -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KDDTable:
    """The whole KDD Cup 99 10% file, one-hot encoded: continuous columns first, then the one-hots."""

    X: np.ndarray  # float64, (494021, 121)
    is_normal: np.ndarray  # bool: the label is "normal."
    feature_names: tuple[str, ...]
    onehot_names: tuple[str, ...]


_KDD_CACHE: dict[tuple[str, int, int], KDDTable] = {}


def _kdd_columns(names_path: Path) -> tuple[list[str], set[str]]:
    names: list[str] = []
    symbolic: set[str] = set()
    # The first line lists the label values; feature lines look like "name: continuous."
    for line in names_path.read_text().splitlines()[1:]:
        if ":" not in line:
            continue
        name, kind = (part.strip() for part in line.split(":", 1))
        names.append(name)
        if kind.rstrip(".") == "symbolic":
            symbolic.add(name)
    return names, symbolic


def load_kdd_table(data_dir: str | Path) -> KDDTable:
    """Parse and one-hot encode the KDD Cup 99 file once per process (cached by path, size, mtime)."""
    import pandas as pd

    data_path = _path(data_dir, "kdd")
    names_path = _path(data_dir, "kddnames")
    stat = data_path.stat()
    key = (str(data_path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _KDD_CACHE:
        return _KDD_CACHE[key]
    started = time.perf_counter()
    names, symbolic = _kdd_columns(names_path)
    if len(names) != 41 or len(symbolic) != 7:
        raise ValueError(
            f"{names_path} should describe 41 features, 7 of them symbolic. "
            f"Got {len(names)} and {len(symbolic)}."
        )
    columns = [*names, "label"]
    dtypes = {n: "str" for n in (*symbolic, "label")}
    try:
        # pyarrow parses in parallel: about 1.5x faster than the C engine on this file.
        frame = pd.read_csv(data_path, header=None, names=columns, dtype=dtypes, engine="pyarrow")
    except ImportError:
        frame = pd.read_csv(data_path, header=None, names=columns, dtype=dtypes)
    continuous = [n for n in names if n not in symbolic]
    # One-hot over the whole file, as the protocol does: a category absent from a training split still
    # gets a (constant zero) column, so every split has the same 121 columns. Filling a preallocated
    # matrix column by column avoids pandas' mixed-dtype interleaving, the slow part of to_numpy here.
    symbols = {n: frame[n].to_numpy(dtype=str) for n in names if n in symbolic}
    categories = {n: np.unique(values) for n, values in symbols.items()}
    onehot_names = tuple(f"{n}={c}" for n, cats in categories.items() for c in cats)
    X = np.zeros((len(frame), len(continuous) + len(onehot_names)), dtype=np.float64)
    for j, name in enumerate(continuous):
        X[:, j] = frame[name].to_numpy(dtype=np.float64)
    rows = np.arange(len(frame))
    offset = len(continuous)
    for name, cats in categories.items():
        X[rows, offset + np.searchsorted(cats, symbols[name])] = 1.0
        offset += len(cats)
    X.flags.writeable = False  # shared by every split of the process; splits take copies
    table = KDDTable(
        X=X,
        is_normal=(frame["label"] == "normal.").to_numpy(),
        feature_names=(*continuous, *onehot_names),
        onehot_names=onehot_names,
    )
    _KDD_CACHE[key] = table
    logger.info(
        "parsed %s (%d rows x %d columns) in %.1fs", data_path.name, *X.shape, time.perf_counter() - started
    )
    return table


# -- splits ----------------------------------------------------------------------------------------
def _zscore_stats(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and std (ddof 0), with a zero std counted as 1."""
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return mean, std


def _half_split(
    name: str,
    seed: int,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: tuple[str, ...],
    *,
    train_positions: np.ndarray,
    passthrough: tuple[str, ...] = (),
) -> Split:
    """Train on the normals at ``train_positions`` (positions among the normal rows of ``X``); test on
    the other normals plus every anomaly. Rows keep file order within each part."""
    normal_idx = np.flatnonzero(y == 0)
    in_train = np.zeros(normal_idx.shape[0], dtype=bool)
    in_train[train_positions] = True
    anomaly_idx = np.flatnonzero(y == 1)
    # One fancy-indexing copy per matrix: KDD's table is 478 MB, so intermediate copies are noticeable.
    X_train = X[normal_idx[in_train]]
    X_test = X[np.concatenate([normal_idx[~in_train], anomaly_idx])]
    y_test = np.concatenate([np.zeros(int((~in_train).sum()), np.int64), np.ones(len(anomaly_idx), np.int64)])
    skip = set(passthrough)
    scaled: np.ndarray | slice = np.array([i for i, n in enumerate(feature_names) if n not in skip])
    if scaled.size and np.array_equal(scaled, np.arange(scaled[0], scaled[-1] + 1)):
        # A contiguous block (KDD's continuous columns come first) scales in place through a view.
        scaled = slice(int(scaled[0]), int(scaled[-1]) + 1)
    mean, std = _zscore_stats(X_train[:, scaled])
    for part in (X_train, X_test):
        part[:, scaled] = (part[:, scaled] - mean) / std
    return Split(name, seed, X_train, X_test, y_test, tuple(feature_names), tuple(passthrough))


def power_transformed(split: Split) -> Split:
    """``split`` with a Yeo-Johnson power transform (scikit-learn's ``PowerTransformer``, standardised)
    fitted on the training rows and applied to the z-scored columns of both parts.

    Not the paper's protocol: ``dhag bench table2 --transform yeo-johnson`` uses it to measure how much
    the protocol's plain z-scores decide, for every detector alike. Columns constant in training and the
    one-hot columns stay as they are.

    Raises
    ------
    ValueError : the transform of a test value is not finite.
    """
    from sklearn.preprocessing import PowerTransformer

    skip = set(split.passthrough)
    cols = np.array(
        [i for i, n in enumerate(split.feature_names) if n not in skip and split.X_train[:, i].std() > 0]
    )
    if cols.size == 0:
        return split
    X_train, X_test = split.X_train.copy(), split.X_test.copy()
    pt = PowerTransformer(method="yeo-johnson", standardize=True).fit(X_train[:, cols])
    X_train[:, cols] = pt.transform(X_train[:, cols])
    X_test[:, cols] = pt.transform(X_test[:, cols])
    if not (np.isfinite(X_train).all() and np.isfinite(X_test).all()):
        raise ValueError(f"The Yeo-Johnson transform of {split.name} seed {split.seed} is not finite.")
    return dataclasses.replace(split, X_train=X_train, X_test=X_test)


def load_split(name: str, seed: int = 0, data_dir: str | Path = DEFAULT_DATA_DIR) -> Split:
    """The Table 2 split of dataset ``name`` for ``seed``.

    Parameters
    ----------
    name : one of ``DATASETS``: thyroid, pageblocks, shuttle, kdd, kddrev.
    seed : drives the random half of the normals (and KDDRev's anomaly draw); Thyroid ignores it.
    data_dir : the folder laid out as ``shared/datasets``.

    Returns
    -------
    Split : ``X_train`` (half of the normals) and ``X_test`` (the other half, then all anomalies),
        float64, z-scored with training statistics; one-hot columns (KDD, KDDRev) untouched.

    Raises
    ------
    DatasetNotFoundError : a data file is missing (the message names the path and the source).
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Choose from {', '.join(DATASETS)}.")
    rng = np.random.default_rng(seed)
    if name in ("kdd", "kddrev"):
        table = load_kdd_table(data_dir)
        if name == "kdd":
            # KDD inverts the labels: attacks are the normal class and "normal." traffic the anomaly.
            y = table.is_normal.astype(np.int64)
            n_normal = int((y == 0).sum())
            half = rng.permutation(n_normal)[: n_normal // 2]
        else:
            y = np.full(table.is_normal.shape[0], -1, dtype=np.int64)  # -1: attack row not drawn
            y[table.is_normal] = 0
            n_normal = int(table.is_normal.sum())
            half = rng.permutation(n_normal)[: n_normal // 2]
            attacks = np.flatnonzero(~table.is_normal)
            y[rng.choice(attacks, size=KDDREV_ANOMALIES, replace=False)] = 1
        return _half_split(
            name, seed, table.X, y, table.feature_names, train_positions=half, passthrough=table.onehot_names
        )
    reader = {"thyroid": _read_thyroid, "pageblocks": _read_pageblocks, "shuttle": _read_shuttle}[name]
    X, y, names = reader(data_dir)
    n_normal = int((y == 0).sum())
    if name == "thyroid":
        # The protocol fixes Thyroid's split: the first half of the normals in file order.
        half = np.arange(n_normal // 2)
    else:
        half = rng.permutation(n_normal)[: n_normal // 2]
    return _half_split(name, seed, X, y, names, train_positions=half)


def n_labelled_for(gamma: float, n_train_normal: int) -> int:
    """Labelled anomalies giving ``gamma = N_l / (N_l + N_train_normal)``, rounded to the nearest row."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1). Got {gamma!r}.")
    return int(round(gamma * n_train_normal / (1.0 - gamma)))


def load_semisup_split(
    gamma: float, seed: int = 0, data_dir: str | Path = DEFAULT_DATA_DIR, *, train_fraction: float = 0.6
) -> Split:
    """The semi-supervised Thyroid split of the paper's Table 3.

    Normals and anomalies are each split 60/40 at random (seeded; the test part is
    ``ceil(0.4 * n)`` as in scikit-learn). The training set is the training normals plus
    ``n_labelled_for(gamma, n_train_normal)`` of the training anomalies, labelled 1 in ``y_train``;
    the remaining training anomalies are unused. Standardised with the training normals' statistics.

    Raises
    ------
    ValueError : gamma asks for more labelled anomalies than the training share holds.
    """
    X, y, names = _read_thyroid(data_dir)
    rng = np.random.default_rng(seed)
    parts = []
    for X_class in (X[y == 0], X[y == 1]):
        n_test = math.ceil((1.0 - train_fraction) * X_class.shape[0])
        order = rng.permutation(X_class.shape[0])
        parts.append((X_class[order[n_test:]], X_class[order[:n_test]]))
    (train_normal, test_normal), (train_anomaly, test_anomaly) = parts
    n_labelled = n_labelled_for(gamma, train_normal.shape[0])
    if n_labelled > train_anomaly.shape[0]:
        raise ValueError(
            f"gamma={gamma} needs {n_labelled} labelled anomalies; the training share has only "
            f"{train_anomaly.shape[0]}."
        )
    labelled = train_anomaly[:n_labelled]  # already in random order
    mean, std = _zscore_stats(train_normal)
    X_train = (np.concatenate([train_normal, labelled]) - mean) / std
    y_train = np.concatenate([np.zeros(len(train_normal), np.int64), np.ones(n_labelled, np.int64)])
    X_test = (np.concatenate([test_normal, test_anomaly]) - mean) / std
    y_test = np.concatenate([np.zeros(len(test_normal), np.int64), np.ones(len(test_anomaly), np.int64)])
    return Split("thyroid-semisup", seed, X_train, X_test, y_test, names, (), y_train)
