"""Table 3 of the DHAG paper: semi-supervised Thyroid with a fraction gamma of labelled anomalies.

The split is :func:`dhag.bench.datasets.load_semisup_split`; DHAG gets ``y_train`` (1 = labelled
anomaly) and otherwise its library defaults, as in Table 2.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dhag.bench import make_dhag, run_meta, write_json
from dhag.bench.datasets import DEFAULT_DATA_DIR, check_files, load_semisup_split
from dhag.bench.metrics import auroc, f1_at_anomaly_rate

__all__ = ["PAPER_F1", "format_semisup", "run_semisup"]

logger = logging.getLogger(__name__)

PAPER_F1 = {"0.0": 81.1, "0.01": 83.7, "0.02": 85.8}


def run_semisup(
    data_dir: str | Path = DEFAULT_DATA_DIR,
    gammas: Sequence[float] = (0.0, 0.01, 0.02),
    seeds: int | Sequence[int] = 5,
    json_path: str | Path | None = None,
    progress: bool = False,
    *,
    command: str | None = None,
    ce_weighting: str = "rows",
    recipe: str = "paper",
) -> dict[str, Any]:
    """Run the semi-supervised Thyroid benchmark.

    Parameters
    ----------
    data_dir : folder laid out as ``shared/datasets``.
    gammas : fractions ``N_labelled / (N_labelled + N_train_normal)``.
    seeds : a count ``n`` (seeds ``0 .. n-1``) or explicit seeds; each drives split and detector.
    json_path : when given, the result is written there after every gamma.
    progress : show DHAG's per-epoch progress bar.
    command : recorded in ``meta``; defaults to ``sys.argv``.
    ce_weighting : DHAG's ``ce_weighting`` (recorded in ``meta``); ``"rows"`` is the library default.
    recipe : DHAG's ``recipe`` (recorded in ``meta``); ``"paper"`` is the library default.

    Returns
    -------
    dict : ``{"meta": {...}, str(gamma): {"f1_mean", "f1_std", "auroc_mean", "auroc_std",
        "n_labelled", "fit_seconds", "per_seed"}}``; percentages rounded to 0.1, std with ddof 0.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("Need at least one seed.")
    check_files(["thyroid"], data_dir)
    result: dict[str, Any] = {
        "meta": run_meta(
            command,
            benchmark="semisup",
            data_dir=str(Path(data_dir).resolve()),
            dataset="thyroid",
            gammas=[float(g) for g in gammas],
            seeds=seed_list,
            split="stratified 60/40 train/test per class (seeded); labelled anomalies drawn from the "
            "training share, the other training anomalies unused; z-scores of training normals",
            units="F1 and AUROC in percent (1 decimal); std over seeds, ddof 0",
            paper_dhag_f1=PAPER_F1,
            dhag_ce_weighting=ce_weighting,
            dhag_recipe=recipe,
        )
    }
    for gamma in gammas:
        runs = []
        for seed in seed_list:
            split = load_semisup_split(gamma, seed, data_dir)
            det = make_dhag(seed, (), progress, split.feature_names, ce_weighting=ce_weighting, recipe=recipe)
            started = time.perf_counter()
            det.fit(split.X_train, split.y_train)
            fit_seconds = time.perf_counter() - started
            scores = det.decision_function(split.X_test)
            run = {
                "seed": seed,
                "f1": f1_at_anomaly_rate(split.y_test, scores),
                "auroc": auroc(split.y_test, scores),
                "n_labelled": int(split.y_train.sum()),
                "n_train_normal": int((split.y_train == 0).sum()),
                "n_test": int(split.y_test.shape[0]),
                "n_test_anomalies": int(split.y_test.sum()),
                "fit_seconds": fit_seconds,
                "epochs_run": det.training_["epochs_run"],
                "best_epoch": det.training_["best_epoch"],
            }
            runs.append(run)
            logger.info(
                "semisup gamma %s seed %d: F1 %.1f AUROC %.1f labelled %d fit %.1fs",
                gamma,
                seed,
                100 * run["f1"],
                100 * run["auroc"],
                run["n_labelled"],
                fit_seconds,
            )
        f1 = np.array([r["f1"] for r in runs]) * 100.0
        auc = np.array([r["auroc"] for r in runs]) * 100.0
        result[str(float(gamma))] = {
            "f1_mean": round(float(f1.mean()), 1),
            "f1_std": round(float(f1.std()), 1),
            "auroc_mean": round(float(auc.mean()), 1),
            "auroc_std": round(float(auc.std()), 1),
            "n_labelled": runs[0]["n_labelled"],
            "fit_seconds": round(float(np.mean([r["fit_seconds"] for r in runs])), 2),
            "per_seed": [
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in runs
            ],
        }
        if json_path is not None:
            write_json(result, json_path)
    return result


def format_semisup(result: dict[str, Any]) -> str:
    """A Markdown table of a :func:`run_semisup` result: one row per gamma, with the paper's F1."""
    paper = result.get("meta", {}).get("paper_dhag_f1", {})
    lines = ["| gamma | labelled | F1 | AUROC | DHAG paper F1 |", "|---|---|---|---|---|"]
    for key, cell in result.items():
        if key == "meta":
            continue
        ref = f"{paper[key]:.1f}" if key in paper else ""
        lines.append(
            f"| {key} | {cell['n_labelled']} | {cell['f1_mean']:.1f} ± {cell['f1_std']:.1f} | "
            f"{cell['auroc_mean']:.1f} ± {cell['auroc_std']:.1f} | {ref} |"
        )
    return "\n".join(lines)
