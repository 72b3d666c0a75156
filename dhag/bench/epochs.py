"""How much Table 2's F1 depends on the epoch the model is kept at (``dhag bench epochs``).

The paper's authors kept, per dataset, the epoch with the best *test* F1; this library keeps the last
epoch and never looks at test labels. This benchmark measures what that difference is worth: on the
same splits as ``dhag bench table2`` it trains DHAG with its library defaults for ``max_epochs = every,
2 * every, ..., 100`` and scores the test rows after each. Training is deterministic for a seed and
nothing in it depends on ``max_epochs`` (the discriminator's learning-rate step is at a fixed epoch),
so the model for ``max_epochs = e`` is exactly the state a 100-epoch training passes through after
epoch ``e`` (retried from scratch, as ``fit`` would, when that state has collapsed).

``one_fit=True`` takes the snapshots from a single training instead, through ``fit``'s ``on_epoch``
hook: the same models, at the cost of one training per seed rather than one per snapshot, which is
what makes KDD and KDDRev affordable. It needs rules under which ``fit`` never retries
(``rules="none"``, the paper's objective alone, or one of the rules from the first update), since a
retry's snapshots are not the states a shorter ``fit`` would keep.

Alongside, it measures the plainest label-free answer to that swing: the mean of the test scores of
the snapshots after half the epochs (``late_mean``, the same snapshots as the late swing), as an
ensemble of one training's states would score. It needs no extra training, only keeping those states.

The best-snapshot F1 below is an *upper bound that uses test labels*. It is reported to size the
effect of choosing the epoch on the test set, and nothing in the library or in any other benchmark
uses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dhag.bench import check_rules, make_dhag, run_meta, write_json
from dhag.bench.datasets import DEFAULT_DATA_DIR, check_files, load_split
from dhag.bench.metrics import auroc, f1_at_anomaly_rate

__all__ = ["format_epochs", "late_score_mean", "run_epochs", "summarise_trace"]

logger = logging.getLogger(__name__)

MAX_EPOCHS = 100
# The rules under which fit retries a collapsed training: no single training holds their snapshots.
RETRYING_RULES = ("retry", "retry-controller")


# A trace: the snapshots' records in epoch order, and each kept snapshot's test scores by epoch.
Trace = tuple[list[dict[str, Any]], dict[int, np.ndarray], np.ndarray]


def _trace_one_fit(name: str, seed: int, every: int, data_dir: str | Path, variant: dict[str, Any]) -> Trace:
    split = load_split(name, seed, data_dir)
    det = make_dhag(seed, split.passthrough, False, split.feature_names, **variant)
    rows: list[dict[str, Any]] = []
    kept: dict[int, np.ndarray] = {}

    def snapshot(record: dict[str, float], score: Any) -> None:
        scores = score(split.X_test)
        kept[int(record["epoch"])] = scores
        rows.append(
            {
                "epochs": int(record["epoch"]),
                "f1": round(100.0 * f1_at_anomaly_rate(split.y_test, scores), 2),
                "auroc": round(100.0 * auroc(split.y_test, scores), 2),
                "attempts": 1,
                "ce_vs_constant": round(record["ce_ratio"], 4),
            }
        )

    det.fit(split.X_train, on_epoch=snapshot)
    # Every every-th epoch, and the last one (KDD stops at max_steps in its 29th epoch).
    rows = [r for i, r in enumerate(rows) if r["epochs"] % every == 0 or i == len(rows) - 1]
    return rows, {r["epochs"]: kept[r["epochs"]] for r in rows}, split.y_test


def _trace(name: str, seed: int, every: int, data_dir: str | Path, variant: dict[str, Any]) -> Trace:
    split = load_split(name, seed, data_dir)
    rows = []
    kept: dict[int, np.ndarray] = {}
    for epochs in range(every, MAX_EPOCHS + 1, every):
        det = make_dhag(seed, split.passthrough, False, split.feature_names, **variant)
        det.max_epochs = epochs
        det.fit(split.X_train)
        scores = det.decision_function(split.X_test)
        kept[epochs] = scores
        t = det.training_
        rows.append(
            {
                "epochs": epochs,
                "f1": round(100.0 * f1_at_anomaly_rate(split.y_test, scores), 2),
                "auroc": round(100.0 * auroc(split.y_test, scores), 2),
                "attempts": len(t["attempts"]),
                "ce_vs_constant": t["ce_vs_constant"],
                "outlier_probe_auroc": t["outlier_probe_auroc"],
            }
        )
    return rows, kept, split.y_test


def late_score_mean(
    rows: Sequence[dict[str, Any]], scores: dict[int, np.ndarray], y: np.ndarray
) -> dict[str, Any]:
    """F1 and AUROC (percent) of the mean test score of the snapshots after half the epochs, the
    snapshots whose F1 range is the late swing; ``epochs`` names them.

    Example
    -------
    >>> y = np.array([0, 0, 1, 1])
    >>> rows = [{"epochs": e} for e in (50, 75, 100)]
    >>> scores = {50: np.array([9.0, 9.0, 0.0, 0.0]), 75: np.array([0.1, 0.4, 0.3, 0.2]),
    ...           100: np.array([0.2, 0.1, 0.3, 0.6])}
    >>> late_score_mean(rows, scores, y)
    {'epochs': [75, 100], 'f1': 100.0, 'auroc': 100.0}
    """
    last = rows[-1]["epochs"]
    epochs = [int(r["epochs"]) for r in rows if r["epochs"] > last / 2]
    mean = np.mean([scores[e] for e in epochs], axis=0)
    return {
        "epochs": epochs,
        "f1": round(100.0 * f1_at_anomaly_rate(y, mean), 2),
        "auroc": round(100.0 * auroc(y, mean), 2),
    }


def summarise_trace(traces: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Per-dataset summary of per-seed traces (each a list of snapshots in epoch order).

    ``last`` is the snapshot the library keeps (the last one); ``best`` the one with the highest test
    F1 (the authors' choice, an upper bound); ``median`` and ``worst`` over all snapshots;
    ``late_swing`` the range (max - min) of F1 over the snapshots after half the epochs.

    Example
    -------
    >>> trace = [{"epochs": e, "f1": f} for e, f in ((50, 60.0), (75, 90.0), (100, 70.0))]
    >>> s = summarise_trace([trace])
    >>> s["last_f1_mean"], s["best_f1_mean"], s["best_epochs"], s["late_swing_mean"]
    (70.0, 90.0, [75], 20.0)
    """
    last = np.array([t[-1]["f1"] for t in traces], dtype=float)
    best = np.array([max(s["f1"] for s in t) for t in traces], dtype=float)
    median = np.array([np.median([s["f1"] for s in t]) for t in traces], dtype=float)
    worst = np.array([min(s["f1"] for s in t) for t in traces], dtype=float)
    late = [[s["f1"] for s in t if s["epochs"] > t[-1]["epochs"] / 2] for t in traces]
    swing = np.array([max(v) - min(v) for v in late], dtype=float)
    out: dict[str, Any] = {}
    for key, values in (("last", last), ("best", best), ("median", median), ("worst", worst)):
        out[f"{key}_f1_mean"] = round(float(values.mean()), 1)
        out[f"{key}_f1_std"] = round(float(values.std()), 1)
    out["late_swing_mean"] = round(float(swing.mean()), 1)
    out["best_epochs"] = [int(max(t, key=lambda s: s["f1"])["epochs"]) for t in traces]
    return out


def run_epochs(
    data_dir: str | Path = DEFAULT_DATA_DIR,
    *,
    datasets: Sequence[str] = ("thyroid", "pageblocks", "shuttle"),
    seeds: int = 5,
    every: int = 5,
    json_path: str | Path | None = None,
    rules: str = "retry",
    one_fit: bool = False,
    ce_weighting: str = "rows",
    recipe: str = "paper",
) -> dict[str, Any]:
    """Trace test F1 and AUROC over ``max_epochs`` for seeds ``0 .. seeds - 1``; returns (and writes
    to ``json_path``) ``{dataset: {summary..., "per_seed": {seed: [snapshot, ...]}}, "meta": ...}``.
    ``rules``, ``ce_weighting`` and ``recipe`` are those of :func:`dhag.bench.make_dhag`; ``one_fit``
    takes every snapshot of a seed from one training (not with the retrying rules).

    Without ``one_fit`` the cost grows with the square of the epochs (each snapshot is a fresh
    training), so KDD and KDDRev are left out by default: one KDD seed would take hours here.
    """
    if not 1 <= every <= MAX_EPOCHS:
        raise ValueError(f"every must be in [1, {MAX_EPOCHS}]. Got {every}.")
    check_rules(rules)
    if one_fit and rules in RETRYING_RULES:
        raise ValueError(
            f"one_fit needs rules under which fit never retries (not {rules!r}): "
            "a retry's snapshots are not what a shorter fit keeps."
        )
    check_files(datasets, data_dir)
    variant = {"rules": rules, "ce_weighting": ce_weighting, "recipe": recipe}
    started = time.perf_counter()
    result: dict[str, Any] = {}
    for name in datasets:
        traces, late = {}, {}
        for seed in range(seeds):
            logger.info("epochs %s seed %d", name, seed)
            trace = _trace_one_fit if one_fit else _trace
            traces[seed], kept, y_test = trace(name, seed, every, data_dir, variant)
            late[seed] = late_score_mean(traces[seed], kept, y_test)
        f1 = np.array([r["f1"] for r in late.values()], dtype=float)
        result[name] = {
            **summarise_trace(list(traces.values())),
            "late_mean_f1_mean": round(float(f1.mean()), 1),
            "late_mean_f1_std": round(float(f1.std()), 1),
            "late_mean_auroc_mean": round(float(np.mean([r["auroc"] for r in late.values()])), 1),
            "per_seed": traces,
            "late_mean_per_seed": late,
        }
    result["meta"] = run_meta(
        datasets=list(datasets),
        seeds=seeds,
        every=every,
        dhag_rules=rules,
        dhag_ce_weighting=ce_weighting,
        dhag_recipe=recipe,
        one_fit=bool(one_fit),
        total_seconds=round(time.perf_counter() - started, 1),
        note="best_* uses test labels to pick the snapshot: an upper bound, never a result",
    )
    if json_path is not None:
        write_json(result, json_path)
    return result


def format_epochs(result: dict[str, Any]) -> str:
    """A Markdown table: F1 mean ± std over seeds of the last, median, worst and best snapshot, and of
    the late snapshots' mean score."""
    lines = [
        "| dataset | last epoch (kept) | median snapshot | worst snapshot | best snapshot by test F1 "
        "| late swing | best epochs | mean score of the late snapshots |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result.items():
        if name == "meta":
            continue
        cells = [
            f"{r[f'{k}_f1_mean']:.1f} ± {r[f'{k}_f1_std']:.1f}" for k in ("last", "median", "worst", "best")
        ]
        epochs = ", ".join(str(e) for e in r["best_epochs"])
        late = f"{r['late_mean_f1_mean']:.1f} ± {r['late_mean_f1_std']:.1f} / {r['late_mean_auroc_mean']:.1f}"
        lines.append(f"| {name} | {' | '.join(cells)} | {r['late_swing_mean']:.1f} | {epochs} | {late} |")
    return "\n".join(lines)
