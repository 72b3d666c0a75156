"""Benchmarks of the DHAG paper on the five public datasets: Table 2, Table 3, training/scoring speed,
and how much Table 2 depends on the epoch kept.

The data files live outside the repo (``../shared/datasets``, see its README for the protocol); every
entry point takes the folder as a parameter. ``scikit-learn`` and ``pyod`` are needed only by the
peer detectors and are imported when those run.

The run functions are imported lazily, so ``import dhag.bench`` stays cheap.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dhag.params import PERTURBATOR_GAMES

__all__ = [
    "DATASETS",
    "DEFAULT_DATA_DIR",
    "GAMES",
    "RULES",
    "TRANSFORMS",
    "DatasetNotFoundError",
    "Split",
    "auroc",
    "check_rules",
    "f1_at_anomaly_rate",
    "format_epochs",
    "format_semisup",
    "format_table2",
    "load_semisup_split",
    "load_split",
    "make_dhag",
    "merge_table2",
    "rounded",
    "run_epochs",
    "run_meta",
    "run_semisup",
    "run_speed",
    "run_table2",
    "typed_command",
    "write_json",
]

# When DHAG's anti-collapse rules apply in a benchmark run (see make_dhag); "retry" is the library's.
RULES = ("retry", "retry-controller", "none", "always", "shift", "controller")
# How DHAG's perturbators play in a Table 2 run; "cooperative" is the library's.
GAMES = PERTURBATOR_GAMES
# The inputs of every detector in a Table 2 run: the protocol's z-scores, or a power transform on top.
TRANSFORMS = ("zscore", "yeo-johnson")

_LAZY = {
    "DATASETS": "datasets",
    "DEFAULT_DATA_DIR": "datasets",
    "DatasetNotFoundError": "datasets",
    "Split": "datasets",
    "load_semisup_split": "datasets",
    "load_split": "datasets",
    "auroc": "metrics",
    "f1_at_anomaly_rate": "metrics",
    "format_table2": "table2",
    "run_table2": "table2",
    "merge_table2": "merge",
    "format_semisup": "semisup",
    "run_semisup": "semisup",
    "run_speed": "speed",
    "format_epochs": "epochs",
    "run_epochs": "epochs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_rules(rules: str) -> None:
    """Refuse a ``rules`` choice that is not in :data:`RULES` (before any long run starts)."""
    if rules not in RULES:
        raise ValueError(f"Unknown rules {rules!r}; choose from {', '.join(RULES)}.")


def make_dhag(
    seed: int,
    passthrough: Sequence[str] = (),
    progress: bool = False,
    feature_names: Sequence[str] | None = None,
    shift_mode: str | None = None,
    average_weights: bool = False,
    rules: str = "retry",
    game: str = "cooperative",
    ce_weighting: str = "rows",
    recipe: str = "paper",
) -> Any:
    """The DHAG detector every benchmark uses: library defaults, seeded, no per-dataset settings.

    ``passthrough`` names already-encoded 0/1 columns to keep as they are; ``feature_names`` names the
    columns of a numpy input so that ``passthrough`` can refer to them. ``shift_mode="beyond"`` trains
    a collapsed fit's retry with shifted rows 0 to 2 deviations beyond each column's range
    (:data:`dhag.params.BEYOND_SHIFT_RANGE`, the plant model's rule) instead of the default offset
    rule; the same for every dataset.
    ``average_weights=True`` keeps the mean of the second half's end-of-epoch weights (not the default).
    ``rules`` (one of :data:`RULES`) says when the anti-collapse rules of :mod:`dhag.retry` apply:
    ``"retry"`` (the library default) the shifted rows only in a collapsed fit's second training;
    ``"retry-controller"`` the same with the ``L_ce`` controller too (the default before
    ``docs/benchmarks.md`` section 1.6, and the plant model's retry); ``"none"`` never (the
    paper's objective alone); ``"always"``, ``"shift"`` and ``"controller"`` from the first update, both
    rules or one of them, with no retry: these measure what each rule does on its own.
    ``game="adversarial"`` has the perturbators ascend ``L_ce`` (``DHAG(perturbator_game=...)``).
    ``ce_weighting="classes"`` weighs ``L_ce`` per class, as the method's reference implementation,
    instead of row by row as the paper's equation (2) (``DHAG(ce_weighting=...)``).
    ``recipe="reference"`` builds the networks and regularisers as that implementation does
    (``DHAG(recipe=...)``).

    Example
    -------
    >>> det = make_dhag(0, rules="shift")
    >>> det.shift_weight, det.ce_target, det.collapse_retry
    (1.0, None, False)
    """
    from dhag.estimator import DHAG
    from dhag.params import BEYOND_SHIFT_RANGE
    from dhag.retry import CONTROLLER_TARGET, RETRY_SETTINGS

    check_rules(rules)
    rule: dict[str, Any] = {}
    if rules == "retry-controller":
        rule["retry_ce_target"] = CONTROLLER_TARGET
    elif rules != "retry":
        rule["collapse_retry"] = False
    if rules in ("always", "shift"):
        rule["shift_weight"] = RETRY_SETTINGS["shift_weight"]
    if rules in ("always", "controller"):
        rule["ce_target"] = CONTROLLER_TARGET
    if shift_mode not in (None, "offset"):
        rule.update(shift_mode=shift_mode, shift_range=BEYOND_SHIFT_RANGE)
    if average_weights:
        rule["average_weights"] = True
    if game != "cooperative":
        rule["perturbator_game"] = game
    if ce_weighting != "rows":
        rule["ce_weighting"] = ce_weighting
    if recipe != "paper":
        rule["recipe"] = recipe
    return DHAG(
        random_state=seed,
        passthrough=tuple(passthrough),
        feature_names=None if feature_names is None else tuple(feature_names),
        progress=progress,
        **rule,
    )


def _cpu_model() -> str | None:
    """The CPU's model name where the system says it (Linux), else None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def typed_command(argv: Sequence[str] | None = None, module: str | None = None) -> str:
    """The command that ran, as a reader types it to run it again: the command's name (``dhag``,
    ``dhag-pipeline``; not the path of its script in one environment), or ``python -m`` and the package
    when ``module`` (its ``__main__``, as ``python -m pipeline`` runs ``pipeline.__main__``) ran, then
    the arguments of ``argv``, quoted as a shell reads them. Without ``argv``: the running process's
    (``sys.argv`` and the module its ``__main__`` is, if any).

    >>> typed_command(["/work/clone/pipeline/__main__.py", "bench", "drift", "--json", "my runs/d.json"],
    ...               "pipeline.__main__")
    "python -m pipeline bench drift --json 'my runs/d.json'"
    >>> typed_command(["/opt/venv/bin/dhag-pipeline", "bench", "plant"])
    'dhag-pipeline bench plant'
    """
    if argv is None:
        argv = sys.argv
        module = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
    if module:
        name = ["python", "-m", module.removesuffix(".__main__")]
    else:
        name = [Path(argv[0]).name] if argv else []
    return shlex.join([*name, *argv[1:]])


def run_meta(command: str | None = None, **extra: Any) -> dict[str, Any]:
    """The ``meta`` block of a result: command (by default the one that ran, :func:`typed_command`),
    machine, library versions and date (UTC)."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    import dhag

    versions = {"python": platform.python_version(), "dhag": dhag.__version__, "torch": torch.__version__}
    for dist in ("numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "pyod"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "torch_threads": torch.get_num_threads(),
        # The kernels torch picked: per-seed results depend on the floating-point path (docs/benchmarks.md).
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY"),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return {
        "command": command if command is not None else typed_command(),
        "machine": machine,
        "versions": versions,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def rounded(value: Any) -> Any:
    """``value`` with every float in it (also in nested lists and dicts) rounded to 4 decimals.

    >>> rounded({"a": [0.123456, 2], "b": 1.0})
    {'a': [0.1235, 2], 'b': 1.0}
    """
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``result`` as indented JSON, atomically (a partial file never replaces a good one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path
