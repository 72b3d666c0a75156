"""``models list`` and ``models show V`` say what the retrainer's gate made of each candidate it
published: its GATE column (``accepted``, ``REFUSED``, ``-`` for a version no run judged) and ``show``'s
``retrain_run``, with the gate's reasons."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pipeline import registry as reg
from pipeline.cli import main

REASON = (
    "probe_recall 0.515 < current 0.999 - tolerance 0.050 (485 of 1000 gross-fault probes missed, p = 0.000)"
)


def _candidate(fitted, root: Path, version: str, *, accepted: bool, reasons: list[str]) -> None:
    model = copy.deepcopy(fitted)  # published as the retrainer publishes its candidate
    run = {"id": f"run-{version}", "label_id": 17, "trigger": "labels", "started": 1796463205.0}
    model.metadata_ = {"retrain_run": run | {"accepted": accepted, "reasons": reasons}}
    reg.publish(root, model, version, make_current=False)


def test_list_and_show_say_the_gate_refused_a_candidate_and_why(fitted, registry: Path, capsys) -> None:
    _candidate(fitted, registry, "v2", accepted=False, reasons=[REASON])
    _candidate(fitted, registry, "v3", accepted=True, reasons=["no metric worse"])
    base = ["models", "--registry", str(registry)]

    assert main([*base, "list"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    # Before: no column said it; a refused candidate looked like any other version, the newest one
    # an operator would promote.
    column = header.split().index("GATE")
    gates = {cells[0]: cells[column] for cells in (row.lstrip("* ").split() for row in rows)}
    # v1: its own first model, which no run judged
    assert gates == {"v1": "-", "v2": "REFUSED", "v3": "accepted"}

    assert main([*base, "show", "v2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["retrain_run"]["accepted"] is False
    assert shown["retrain_run"]["reasons"] == [REASON]
    assert main([*base, "show", "v1"]) == 0
    assert json.loads(capsys.readouterr().out)["retrain_run"] is None


def test_promote_of_a_refused_candidate_warns_with_the_gates_reasons(fitted, registry: Path, capsys) -> None:
    _candidate(fitted, registry, "v2", accepted=False, reasons=[REASON])
    _candidate(fitted, registry, "v3", accepted=True, reasons=["no metric worse"])
    base = ["models", "--registry", str(registry)]

    assert main([*base, "promote", "v2"]) == 0  # an operator's review may overrule the gate
    captured = capsys.readouterr()
    assert captured.out == "v2 is current (was v1)\n"
    # Before: nothing, so a candidate picked as the newest version, which misses half of the gross
    # faults, was made current without a word.
    (warning,) = captured.err.splitlines()
    assert warning.startswith("models promote: warning: the retrainer's gate refused v2: probe_recall 0.515")
    assert (
        "485 of 1000 gross-fault probes missed" in warning and "`models rollback` makes v1 current" in warning
    )

    assert main([*base, "promote", "v3"]) == 0
    assert capsys.readouterr().err == ""
    assert main([*base, "promote", "v3"]) == 0  # already current: nothing changed, nothing to warn of
    assert capsys.readouterr().err == ""
