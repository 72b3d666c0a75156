"""Join ``dhag bench table2`` results over disjoint seeds or datasets into one (``dhag bench merge``).

A KDD seed of a five-network model takes half an hour here, so a run of seeds 0-4 may be split into
parts (``--first-seed 3 --seeds 2``) that run in other sessions or on other machines; on two cores,
KDD and KDDRev run faster as two processes (``--datasets kdd`` and ``--datasets kddrev``). The merged
result is what one run over all the seeds and datasets would have written, cell for cell: the
per-seed records side by side (in seed order) and the means and spreads computed again from them. It
refuses parts that measured another setting, that measure one seed of a cell twice, or that would leave
the cells with different seeds, naming the difference. Each part's command, machine, date, seeds and
datasets stay in ``meta.parts``: a per-seed DHAG result depends on the machine it ran on
(``docs/benchmarks.md``), so a merge never hides one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dhag.bench import run_meta
from dhag.bench.table2 import summarise_runs

__all__ = ["merge_table2"]

# What may differ between the parts of one measurement: where, when and by what command each ran.
PER_PART = (
    "command",
    "machine",
    "versions",
    "date",
    "seeds",
    "datasets",
    "detectors",
    "total_seconds",
    "data_dir",
    "parts",
)


def merge_table2(parts: Sequence[dict[str, Any]], command: str | None = None) -> dict[str, Any]:
    """One table2 result from ``parts`` (results of :func:`dhag.bench.run_table2`) over disjoint seeds,
    disjoint datasets (or detectors), or both.

    Raises ValueError naming the first difference when the parts are not one measurement split up:
    another benchmark or setting, a seed of a dataset and detector measured twice, or cells that would
    end with different seeds.

    Example
    -------
    >>> def part(seed, f1, name="kdd"):
    ...     run = {"seed": seed, "f1": f1, "auroc": 0.9, "fit_seconds": 1.0, "score_seconds": 0.1,
    ...            "n_train_rows": 10}
    ...     cell = {"f1_mean": 100 * f1, "note": "n", "n_train_rows": 10, "per_seed": [run]}
    ...     meta = {"benchmark": "table2", "seeds": [seed], "dhag_members": 1, "total_seconds": 5.0}
    ...     return {"meta": meta, name: {"dhag": cell}}
    >>> merged = merge_table2([part(3, 0.5), part(0, 0.7)], command="merge")
    >>> merged["meta"]["seeds"], merged["kdd"]["dhag"]["f1_mean"], merged["meta"]["total_seconds"]
    ([0, 3], 60.0, 10.0)
    >>> sorted(merge_table2([part(0, 0.5), part(0, 0.7, "kddrev")])["meta"]["datasets"])
    ['kdd', 'kddrev']
    >>> merge_table2([part(0, 0.5), part(0, 0.7)])
    Traceback (most recent call last):
    ...
    ValueError: Seed 0 of kdd dhag is in more than one part; a merge joins disjoint seeds or datasets.
    """
    if len(parts) < 2:
        raise ValueError(f"A merge needs at least two parts. Got {len(parts)}.")
    metas = [part.get("meta") if isinstance(part, dict) else None for part in parts]
    for i, meta in enumerate(metas):
        if not isinstance(meta, dict):
            raise ValueError(f"Part {i + 1} is not a benchmark result: it has no meta block.")
    first = metas[0]
    for i, meta in enumerate(metas):
        if meta.get("benchmark") != "table2":
            kind = meta.get("benchmark")
            raise ValueError(f"Part {i + 1} is not a table2 result (meta.benchmark = {kind!r}).")
        for key in sorted((set(meta) | set(first)) - set(PER_PART)):
            if meta.get(key) != first.get(key):
                raise ValueError(
                    f"The parts differ in meta.{key}: {first.get(key)!r} in part 1, "
                    f"{meta.get(key)!r} in part {i + 1}; only runs of one setting can be merged."
                )
    # Datasets and detectors in the order the parts ran them, as format_table2 prints them.
    held: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for part in parts:
        for name, cells in part.items():
            if name != "meta":
                for det, cell in cells.items():
                    held.setdefault(name, {}).setdefault(det, []).append(cell)
    merged_cells: dict[str, dict[str, Any]] = {}
    cell_seeds: dict[str, list[int]] = {}
    for name, dets in held.items():
        for det, cells in dets.items():
            notes = {cell["note"] for cell in cells}
            if len(notes) > 1:
                raise ValueError(f"The parts' {name} {det} cells describe different models: {sorted(notes)}")
            note = notes.pop()
            runs = sorted(
                (dict(run, note=note) for cell in cells for run in cell["per_seed"]), key=lambda r: r["seed"]
            )
            seeds = [run["seed"] for run in runs]
            for a, b in zip(seeds, seeds[1:], strict=False):
                if a == b:
                    raise ValueError(
                        f"Seed {a} of {name} {det} is in more than one part; a merge joins disjoint seeds "
                        "or datasets."
                    )
            cell_seeds[f"{name} {det}"] = seeds
            merged_cells.setdefault(name, {})[det] = summarise_runs(runs)
    if len({tuple(seeds) for seeds in cell_seeds.values()}) > 1:
        listed = "; ".join(f"{cell} {seeds}" for cell, seeds in cell_seeds.items())
        raise ValueError(
            f"The merged cells would hold different seeds ({listed}); every cell needs the same."
        )
    detectors = list(dict.fromkeys(det for dets in held.values() for det in dets))
    return {
        "meta": {
            **run_meta(command),
            **{k: v for k, v in first.items() if k not in PER_PART},
            "seeds": next(iter(cell_seeds.values()), []),
            "datasets": list(held),
            "detectors": detectors,
            "total_seconds": round(sum(meta.get("total_seconds", 0.0) for meta in metas), 1),
            "parts": [{k: meta.get(k) for k in PER_PART if k != "parts"} for meta in metas],
        },
        **merged_cells,
    }
