"""Join ``dhag bench table2`` results over disjoint seeds into one (``dhag bench merge``).

A KDD seed of a five-network model takes half an hour here, so a run of seeds 0-4 may be split into
parts (``--first-seed 3 --seeds 2``) that run in other sessions or on other machines. The merged result
is what one run over all the seeds would have written, cell for cell: the per-seed records side by
side (in seed order) and the means and spreads computed again from them. It refuses parts that
measured different things (another setting, dataset or detector) or share a seed, naming the
difference. Each part's command, machine, date and seeds stay in ``meta.parts``: a per-seed DHAG
result depends on the machine it ran on (``docs/benchmarks.md``), so a merge never hides one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dhag.bench import run_meta
from dhag.bench.table2 import summarise_runs

__all__ = ["merge_table2"]

# What may differ between the parts of one measurement: where, when and by what command each ran.
PER_PART = ("command", "machine", "versions", "date", "seeds", "total_seconds", "data_dir", "parts")


def merge_table2(parts: Sequence[dict[str, Any]], command: str | None = None) -> dict[str, Any]:
    """One table2 result from ``parts`` (results of :func:`dhag.bench.run_table2`) over disjoint seeds.

    Raises ValueError naming the first difference when the parts are not one measurement split by
    seeds: another benchmark, setting, dataset or detector, or a seed measured twice.

    Example
    -------
    >>> def part(seed, f1):
    ...     run = {"seed": seed, "f1": f1, "auroc": 0.9, "fit_seconds": 1.0, "score_seconds": 0.1,
    ...            "n_train_rows": 10}
    ...     cell = {"f1_mean": 100 * f1, "note": "n", "n_train_rows": 10, "per_seed": [run]}
    ...     meta = {"benchmark": "table2", "seeds": [seed], "dhag_members": 1, "total_seconds": 5.0}
    ...     return {"meta": meta, "kdd": {"dhag": cell}}
    >>> merged = merge_table2([part(3, 0.5), part(0, 0.7)], command="merge")
    >>> merged["meta"]["seeds"], merged["kdd"]["dhag"]["f1_mean"], merged["meta"]["total_seconds"]
    ([0, 3], 60.0, 10.0)
    >>> merge_table2([part(0, 0.5), part(0, 0.7)])
    Traceback (most recent call last):
    ...
    ValueError: Seed 0 is in more than one part; a merge joins disjoint seeds.
    """
    if len(parts) < 2:
        raise ValueError(f"A merge needs at least two parts. Got {len(parts)}.")
    metas = [part.get("meta") if isinstance(part, dict) else None for part in parts]
    for i, meta in enumerate(metas):
        if not isinstance(meta, dict):
            raise ValueError(f"Part {i + 1} is not a benchmark result: it has no meta block.")
    first = metas[0]
    for i, (part, meta) in enumerate(zip(parts, metas, strict=True)):
        if meta.get("benchmark") != "table2":
            kind = meta.get("benchmark")
            raise ValueError(f"Part {i + 1} is not a table2 result (meta.benchmark = {kind!r}).")
        for key in sorted((set(meta) | set(first)) - set(PER_PART)):
            if meta.get(key) != first.get(key):
                raise ValueError(
                    f"The parts differ in meta.{key}: {first.get(key)!r} in part 1, "
                    f"{meta.get(key)!r} in part {i + 1}; only runs of one setting can be merged."
                )
        if _cells(part) != _cells(parts[0]):
            raise ValueError(
                f"Part {i + 1} measured {sorted(_cells(part))}, part 1 {sorted(_cells(parts[0]))}; "
                "every part must hold the same datasets and detectors."
            )
    seeds: list[int] = []
    for meta in metas:
        for seed in meta["seeds"]:
            if seed in seeds:
                raise ValueError(f"Seed {seed} is in more than one part; a merge joins disjoint seeds.")
            seeds.append(seed)
    merged: dict[str, Any] = {
        "meta": {
            **run_meta(command),
            **{k: v for k, v in first.items() if k not in PER_PART},
            "seeds": sorted(seeds),
            "total_seconds": round(sum(meta.get("total_seconds", 0.0) for meta in metas), 1),
            "parts": [{k: meta.get(k) for k in PER_PART if k != "parts"} for meta in metas],
        }
    }
    # Datasets and detectors in the order the first part ran them, as format_table2 prints them.
    for name, cells in parts[0].items():
        if name == "meta":
            continue
        for det in cells:
            notes = {part[name][det]["note"] for part in parts}
            if len(notes) > 1:
                raise ValueError(f"The parts' {name} {det} cells describe different models: {sorted(notes)}")
            note = notes.pop()
            runs = [dict(run, note=note) for part in parts for run in part[name][det]["per_seed"]]
            runs.sort(key=lambda run: run["seed"])
            merged.setdefault(name, {})[det] = summarise_runs(runs)
    return merged


def _cells(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(name, det) for name, cells in result.items() if name != "meta" for det in cells}
