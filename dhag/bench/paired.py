"""DHAG against the best other detector of a ``dhag bench table2`` result, seed by seed.

Every detector of one run sees the same split of a seed, so the fair comparison is paired: per seed,
DHAG's F1 minus the other's. A difference of means that is smaller than the standard error of these
paired differences is within what the draw of splits (and of DHAG's training) does, and a table of
means alone would not show it. The best other detector is the one with the highest mean F1 in the
run; it is chosen on the same test results, so the comparison is with the strongest peer as measured.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["format_paired", "paired_against_best_peer"]


def paired_against_best_peer(cell: dict[str, dict[str, Any]], dhag: str = "dhag") -> dict[str, Any] | None:
    """Compares ``cell[dhag]`` with the other detector of highest mean F1 in ``cell`` (one dataset of
    a table2 result), over the seeds both measured.

    Returns ``peer``, ``seeds`` (how many), ``above`` and ``below`` (seeds where DHAG's F1 is higher
    or lower), ``mean_difference`` (DHAG minus the peer, F1 in percent) and ``standard_error`` (of
    that mean: the sample standard deviation of the differences over the square root of the number
    of seeds; None with one seed). None when the cell has no DHAG or no other detector.

    Example
    -------
    >>> def runs(*f1s):
    ...     return {"f1_mean": 100 * sum(f1s) / len(f1s),
    ...             "per_seed": [{"seed": s, "f1": f} for s, f in enumerate(f1s)]}
    >>> cell = {"dhag": runs(0.80, 0.70, 0.90), "knn": runs(0.75, 0.75, 0.75), "ecod": runs(0.1, 0.1, 0.1)}
    >>> result = paired_against_best_peer(cell)
    >>> result["peer"], result["above"], result["below"], round(result["mean_difference"], 2)
    ('knn', 2, 1, 5.0)
    >>> round(result["standard_error"], 2)
    5.77
    >>> paired_against_best_peer({"dhag": runs(0.8)}) is None
    True
    """
    if dhag not in cell:
        return None
    others = {name: c for name, c in cell.items() if name != dhag}
    if not others:
        return None
    peer = max(others, key=lambda name: others[name]["f1_mean"])
    ours = {run["seed"]: run["f1"] for run in cell[dhag]["per_seed"]}
    theirs = {run["seed"]: run["f1"] for run in others[peer]["per_seed"]}
    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return None
    differences = [100.0 * (ours[s] - theirs[s]) for s in seeds]
    n = len(differences)
    mean = sum(differences) / n
    error = None
    if n > 1:
        variance = sum((d - mean) ** 2 for d in differences) / (n - 1)
        error = math.sqrt(variance / n)
    # F1 is stored rounded to 4 digits: a difference below that rounding is a tie.
    return {
        "peer": peer,
        "seeds": n,
        "above": sum(d > 1e-6 for d in differences),
        "below": sum(d < -1e-6 for d in differences),
        "mean_difference": mean,
        "standard_error": error,
    }


def format_paired(result: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Markdown lines of :func:`paired_against_best_peer` for every dataset of a table2 ``result``
    that has DHAG and another detector; no lines when none has."""
    lines: list[str] = []
    for name, cell in result.items():
        if name == "meta":
            continue
        paired = paired_against_best_peer(cell)
        if paired is None:
            continue
        error = "-" if paired["standard_error"] is None else f"{paired['standard_error']:.1f}"
        lines.append(
            f"| {labels.get(name, name)} | {labels.get(paired['peer'], paired['peer'])} | "
            f"{paired['mean_difference']:+.1f} ({error}) | {paired['above']} / {paired['below']} | "
            f"{paired['seeds']} |"
        )
    if not lines:
        return []
    head = [
        "| dataset | best other detector | DHAG minus it, mean F1 difference (standard error) "
        "| seeds DHAG above / below | seeds |",
        "|---|---|---|---|---|",
    ]
    return ["", *head, *lines]
