"""Table 2 of the DHAG paper: one-class F1 and AUROC of DHAG and five peers on five datasets.

Protocol: ``shared/datasets/README.md``. Seeds ``0 .. seeds-1`` drive both the split and the
detectors. No model selection looks at test labels: DHAG runs with its library defaults (the last
epoch within 100 epochs or 20,000 updates), the peers with theirs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dhag.bench import GAMES, TRANSFORMS, check_rules, make_dhag, rounded, run_meta, write_json
from dhag.bench.datasets import DATASETS, DEFAULT_DATA_DIR, Split, check_files, load_split, power_transformed
from dhag.bench.metrics import auroc, boundary_ties, f1_at_anomaly_rate
from dhag.bench.paired import format_paired
from dhag.bench.peers import CAPPED_PEERS, MAX_TRAIN_ROWS, PEERS, run_peer
from dhag.ensemble import MEMBER_SEED_STEP
from dhag.losses import CE_WEIGHTINGS
from dhag.modules import RECIPES

__all__ = ["DETECTORS", "PAPER_DHAG_F1", "format_table2", "run_table2", "summarise_runs"]

logger = logging.getLogger(__name__)

DETECTORS = ("dhag", *PEERS)
PAPER_DHAG_F1 = {"thyroid": 86.9, "kdd": 98.2, "kddrev": 98.9, "pageblocks": 78.8, "shuttle": 83.1}
_LABELS = {
    "dhag": "DHAG",
    "iforest": "iForest",
    "ecod": "ECOD",
    "knn": "KNN",
    "ocsvm": "OCSVM",
    "deepsvdd": "DeepSVDD",
    "thyroid": "Thyroid",
    "pageblocks": "Pageblocks",
    "shuttle": "Shuttle",
    "kdd": "KDD",
    "kddrev": "KDDRev",
}

# What the DHAG rows of a run are.
NOTE = (
    "dhag.DHAG library defaults (random_state=seed): the last epoch within max_epochs=100 or "
    "max_steps=20000; the paper's objective, trained again from the same seed with shifted-row "
    "anomalies when it collapses (attempts = 2)"
)


# The training-side record of a DHAG fit kept with each run (``per_seed`` in the JSON).
_TRAINING_KEYS = (
    "epochs_run",
    "best_epoch",
    "stopped_by",
    "steps",
    "ce_vs_constant",
    "collapsed",
    "lambda_norm_final",
    "outlier_probe_auroc",
    "averaged_epochs",
)

# What --dhag-rules other than the default changes in the DHAG rows.
RULE_NOTES = {
    "retry-controller": "; the retry also steers L_ce (retry_ce_target=0.9)",
    "none": "; never retried: the paper's objective alone (collapse_retry=False)",
    "always": "; shifted-row anomalies and the L_ce controller from the first update, no retry",
    "shift": "; shifted-row anomalies from the first update, lambda1 fixed, no retry",
    "controller": "; the L_ce controller from the first update, no shifted rows, no retry",
}


def _note(variant: dict[str, Any], members: int = 1, snapshots: int = 1) -> str:
    """What the DHAG cells measured, in words: ``variant`` holds :func:`dhag.bench.make_dhag`'s options."""
    note = NOTE + RULE_NOTES.get(variant.get("rules", "retry"), "")
    if snapshots > 1:
        note += f"; the mean score of {snapshots} states of its second half (snapshots={snapshots})"
    if members > 1:
        note += (
            f"; the mean score of {members} such models trained on the same rows from seeds "
            f"seed + {MEMBER_SEED_STEP} * m (n_members={members})"
        )
    if variant.get("game", "cooperative") == "adversarial":
        note += "; the perturbators ascend L_ce (perturbator_game='adversarial')"
    if variant.get("ce_weighting", "rows") == "classes":
        note += "; L_ce is the mean CE of each class, normal and synthetic anomaly (ce_weighting='classes')"
    if variant.get("recipe", "paper") == "reference":
        note += "; networks and regularisers built as the reference implementation (recipe='reference')"
    if variant.get("shift_mode") not in (None, "offset"):
        note += "; shifted rows beyond each column's training range (shift_mode='beyond', shift_range=(0, 2))"
    if variant.get("average_weights"):
        note += "; the mean of the end-of-epoch weights over the second half of the planned epochs kept "
        note += "instead of the last (average_weights=True)"
    return note


def _run_dhag(
    split: Split, seed: int, progress: bool, *, members: int = 1, snapshots: int = 1, **variant: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit DHAG on ``split`` and score its test rows; ``variant`` holds :func:`dhag.bench.make_dhag`'s
    options. With ``members`` > 1, ``DHAG(n_members=members)``: the mean score of that many models
    trained on the same rows from seeds ``seed + MEMBER_SEED_STEP * m`` (member 0 is the single model
    of the seed; :mod:`dhag.ensemble`).
    """
    det = make_dhag(seed, split.passthrough, progress, split.feature_names, **variant)
    det.n_members, det.snapshots = members, snapshots
    started = time.perf_counter()
    det.fit(split.X_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = det.decision_function(split.X_test)
    info = {
        "fit_seconds": fit_seconds,
        "score_seconds": time.perf_counter() - started,
        **{key: det.training_[key] for key in _TRAINING_KEYS},
        "attempts": len(det.training_["attempts"]),
        "n_train_rows": int(split.X_train.shape[0]),
        "note": _note(variant, members, snapshots),
    }
    if members > 1:
        # Each member on its own, for the record: what averaging gained over a typical single model.
        fits = det.training_["members"]
        for fit, member in zip(fits, det.member_scores(split.X_test), strict=True):
            fit["f1"] = f1_at_anomaly_rate(split.y_test, member)
            fit["auroc"] = auroc(split.y_test, member)
            fit["attempts"] = len(fit["attempts"])
        info["members"] = fits
    return scores, info


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-seed runs (each with its ``note``): percentages, mean and population std (ddof 0)
    over seeds, and the runs themselves as ``per_seed``."""
    f1 = np.array([r["f1"] for r in runs]) * 100.0
    auc = np.array([r["auroc"] for r in runs]) * 100.0
    out: dict[str, Any] = {
        "f1_mean": round(float(f1.mean()), 1),
        "f1_std": round(float(f1.std()), 1),
        "auroc_mean": round(float(auc.mean()), 1),
        "auroc_std": round(float(auc.std()), 1),
        "fit_seconds": round(float(np.mean([r["fit_seconds"] for r in runs])), 2),
        "score_seconds": round(float(np.mean([r["score_seconds"] for r in runs])), 2),
        "n_train_rows": runs[0]["n_train_rows"],
        "note": runs[0]["note"],
        "per_seed": [rounded({k: v for k, v in r.items() if k != "note"}) for r in runs],
    }
    return out


def run_table2(
    data_dir: str | Path = DEFAULT_DATA_DIR,
    datasets: Sequence[str] = DATASETS,
    seeds: int | Sequence[int] = 5,
    detectors: Sequence[str] = DETECTORS,
    json_path: str | Path | None = None,
    progress: bool = False,
    *,
    max_train_rows: int | None = MAX_TRAIN_ROWS,
    capped_peers: Collection[str] = CAPPED_PEERS,
    command: str | None = None,
    dhag_shift_mode: str | None = None,
    dhag_average_weights: bool = False,
    transform: str = "zscore",
    dhag_rules: str = "retry",
    dhag_game: str = "cooperative",
    dhag_members: int = 1,
    dhag_ce_weighting: str = "rows",
    dhag_snapshots: int = 1,
    dhag_recipe: str = "paper",
) -> dict[str, Any]:
    """Run the Table 2 benchmark.

    Parameters
    ----------
    data_dir : folder laid out as ``shared/datasets``.
    datasets : names from :data:`dhag.bench.datasets.DATASETS`.
    seeds : a count ``n`` (seeds ``0 .. n-1``) or explicit seeds; each drives split and detectors.
    detectors : names from :data:`DETECTORS`.
    json_path : when given, the result is written there after every dataset and at the end.
    progress : show DHAG's per-epoch progress bar.
    max_train_rows : training-row cap of the ``capped_peers`` (see :mod:`dhag.bench.peers`); None = no cap.
    capped_peers : peers fitted on a seeded subsample of at most ``max_train_rows`` rows (OCSVM).
    command : recorded in ``meta``; defaults to ``sys.argv``.
    dhag_shift_mode : ``"beyond"`` runs DHAG with the shifted-row rule of :func:`dhag.bench.make_dhag`
        (recorded in ``meta``); None or ``"offset"``: the library default.
    dhag_average_weights : run DHAG with ``average_weights=True`` (recorded in ``meta``).
    dhag_rules : when DHAG's anti-collapse rules apply (:data:`dhag.bench.RULES`, recorded in
        ``meta``): ``"retry"`` is the library default; the others measure each rule on its own.
    dhag_game : ``"adversarial"`` runs DHAG with ``perturbator_game="adversarial"`` (recorded in
        ``meta``); ``"cooperative"`` is the library default, Algorithm 1.
    dhag_members : DHAG's score is the mean of this many models' scores, each trained with the same
        settings from its own seed (recorded in ``meta``; each member's F1 and AUROC in ``per_seed``);
        1, the default, is the library's single model.
    dhag_ce_weighting : ``"classes"`` runs DHAG with ``ce_weighting="classes"`` (recorded in ``meta``);
        ``"rows"``, the paper's equation (2), is the library default.
    dhag_snapshots : DHAG's score is the mean of this many end-of-epoch states of each training
        (``DHAG(snapshots=...)``, :mod:`dhag.snapshots`; recorded in ``meta``); 1 is the library's.
    dhag_recipe : ``"reference"`` runs DHAG with ``recipe="reference"``, its networks and regularisers
        built as the reference implementation (recorded in ``meta``); ``"paper"`` is the library default.
    transform : ``"zscore"`` (the protocol) or ``"yeo-johnson"``: a power transform fitted on each
        split's training rows on top of the z-scores, for every detector alike
        (:func:`dhag.bench.datasets.power_transformed`; recorded in ``meta``). Not the paper's protocol.

    Returns
    -------
    dict : ``{"meta": {...}, dataset: {detector: {"f1_mean", "f1_std", "auroc_mean", "auroc_std",
        "fit_seconds", "score_seconds", "n_train_rows", "note", "per_seed"}}}``. F1 and AUROC are
        percentages rounded to 0.1; std is over seeds with ddof 0; seconds are means over seeds.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    unknown = [d for d in detectors if d not in DETECTORS]
    if transform not in TRANSFORMS:
        raise ValueError(f"Unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}.")
    check_rules(dhag_rules)
    for key, value, allowed in (
        ("game", dhag_game, GAMES),
        ("ce_weighting", dhag_ce_weighting, CE_WEIGHTINGS),
        ("recipe", dhag_recipe, RECIPES),
    ):
        if value not in allowed:
            raise ValueError(f"Unknown {key} {value!r}; choose from {', '.join(allowed)}.")
    for key, value in (("dhag_members", dhag_members), ("dhag_snapshots", dhag_snapshots)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{key} must be an int >= 1. Got {value!r} instead.")
    if unknown or not seed_list:
        raise ValueError(
            f"Unknown detectors {unknown}; choose from {', '.join(DETECTORS)}."
            if unknown
            else "Need at least one seed."
        )
    check_files(datasets, data_dir)  # fail before hours of compute, not after
    result: dict[str, Any] = {
        "meta": run_meta(
            command,
            benchmark="table2",
            data_dir=str(Path(data_dir).resolve()),
            datasets=list(datasets),
            detectors=list(detectors),
            seeds=seed_list,
            units="F1 and AUROC in percent (1 decimal); std over seeds, ddof 0; seconds are means",
            f1_rule="threshold at percentile 100*normal_ratio of test scores; ties at the boundary "
            "broken at random, expected F1 reported (see dhag.bench.metrics)",
            peer_max_train_rows=max_train_rows,
            capped_peers=sorted(capped_peers),
            paper_dhag_f1=PAPER_DHAG_F1,
            dhag_shift_mode=dhag_shift_mode or "offset",
            dhag_average_weights=bool(dhag_average_weights),
            dhag_rules=dhag_rules,
            dhag_game=dhag_game,
            dhag_members=dhag_members,
            dhag_ce_weighting=dhag_ce_weighting,
            dhag_snapshots=dhag_snapshots,
            dhag_recipe=dhag_recipe,
            transform=transform,
        )
    }
    variant = {
        "shift_mode": dhag_shift_mode,
        "average_weights": dhag_average_weights,
        "rules": dhag_rules,
        "game": dhag_game,
        "ce_weighting": dhag_ce_weighting,
        "recipe": dhag_recipe,
    }
    started_all = time.perf_counter()
    for name in datasets:
        runs: dict[str, list[dict[str, Any]]] = {d: [] for d in detectors}
        for seed in seed_list:
            split = load_split(name, seed, data_dir)
            if transform == "yeo-johnson":
                split = power_transformed(split)
            for det in detectors:
                if det == "dhag":
                    scores, info = _run_dhag(
                        split, seed, progress, members=dhag_members, snapshots=dhag_snapshots, **variant
                    )
                else:
                    peer = run_peer(
                        det,
                        split.X_train,
                        split.X_test,
                        seed,
                        max_train_rows=max_train_rows,
                        capped=capped_peers,
                    )
                    scores = peer.scores
                    info = {
                        "fit_seconds": peer.fit_seconds,
                        "score_seconds": peer.score_seconds,
                        "n_train_rows": peer.n_train_rows,
                        "note": peer.note,
                    }
                run = {
                    "seed": seed,
                    "f1": f1_at_anomaly_rate(split.y_test, scores),
                    "auroc": auroc(split.y_test, scores),
                    "boundary_ties": boundary_ties(split.y_test, scores),
                    **info,
                }
                runs[det].append(run)
                logger.info(
                    "table2 %s seed %d %s: F1 %.1f AUROC %.1f fit %.1fs score %.1fs",
                    name,
                    seed,
                    det,
                    100 * run["f1"],
                    100 * run["auroc"],
                    run["fit_seconds"],
                    run["score_seconds"],
                )
        result[name] = {det: summarise_runs(det_runs) for det, det_runs in runs.items()}
        if json_path is not None:
            write_json(result, json_path)
    result["meta"]["total_seconds"] = round(time.perf_counter() - started_all, 1)
    if json_path is not None:
        write_json(result, json_path)
    return result


def format_table2(result: dict[str, Any], *, show_times: bool = False) -> str:
    """A Markdown table of a :func:`run_table2` result: cells "F1 ± std / AUROC" (percent; ``-``: one seed).

    With ``show_times`` a second table gives the mean fit seconds per cell. Where DHAG ran beside
    other detectors, a table compares it seed by seed with the best of them
    (:mod:`dhag.bench.paired`); with ``--dhag-members``, one gives member 0 and a typical member.
    """
    names = [k for k in result if k != "meta"]
    dets: list[str] = []
    for name in names:
        dets.extend(d for d in result[name] if d not in dets)
    paper = result.get("meta", {}).get("paper_dhag_f1", {})

    def table(cell: Any, extra: bool) -> list[str]:
        head = ["dataset", *(_LABELS.get(d, d) for d in dets)] + (["DHAG paper F1"] if extra else [])
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name in names:
            row = [_LABELS.get(name, name)]
            row += [cell(result[name][d]) if d in result[name] else "" for d in dets]
            if extra:
                row.append(f"{paper[name]:.1f}" if name in paper else "")
            lines.append("| " + " | ".join(row) + " |")
        return lines

    lines = table(lambda c: f"{c['f1_mean']:.1f} ± {_spread(c['f1_std'], c)} / {c['auroc_mean']:.1f}", True)
    if show_times:
        lines += ["", *table(lambda c: f"{c['fit_seconds']:.1f} s", False)]
    lines += format_paired(result, _LABELS)
    members = [
        name for name in names if "members" in (result[name].get("dhag", {}).get("per_seed") or [{}])[0]
    ]
    if members:
        lines += [
            "",
            "| dataset | DHAG member 0 (one model) | a typical member | the mean of all |",
            "|---|---|---|---|",
        ]
        for name in members:
            lines.append(f"| {_LABELS.get(name, name)} | {_members_cells(result[name]['dhag'])} |")
    return "\n".join(lines)


def _spread(std: float, cell: dict[str, Any]) -> str:
    """A standard deviation over seeds to one place, ``-`` for a cell of one seed: it has none."""
    return "-" if len(cell.get("per_seed") or ()) == 1 else f"{std:.1f}"


def _members_cells(cell: dict[str, Any]) -> str:
    """ "F1 ± std / AUROC" over seeds of member 0, "F1 / AUROC" over every member of every seed, and the
    ensemble's own: what averaging gained over its members (percent)."""
    runs = cell["per_seed"]
    first = [r["members"][0] for r in runs]
    every = [m for r in runs for m in r["members"]]
    f1_first = 100.0 * np.array([m["f1"] for m in first])
    auroc_first = 100.0 * float(np.mean([m["auroc"] for m in first]))
    mean = {key: 100.0 * float(np.mean([m[key] for m in every])) for key in ("f1", "auroc")}
    return (
        f"{f1_first.mean():.1f} ± {_spread(f1_first.std(), cell)} / {auroc_first:.1f} | "
        f"{mean['f1']:.1f} / {mean['auroc']:.1f} | "
        f"{cell['f1_mean']:.1f} ± {_spread(cell['f1_std'], cell)} / {cell['auroc_mean']:.1f}"
    )
