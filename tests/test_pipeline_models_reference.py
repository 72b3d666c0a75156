"""``models list``, ``show`` and ``promote`` check each version's reference sample against the digest its
model records, and say what a damaged or missing one means: retraining from that version fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import registry
from pipeline.cli import main
from pipeline.reference import REFERENCE_SUFFIX

REFERENCE = [("p1", 0.0, {"flow_a": 1.0}), ("p1", 60.0, {"flow_a": 1.1})]


@pytest.fixture
def root(fitted, tmp_path: Path) -> Path:
    """v1 current with a sound sample, v2 with a sample edited after publication, v3 whose sample is gone,
    v4 published without one."""
    for version in ("v1", "v2", "v3"):
        registry.publish(tmp_path, fitted, version, reference=REFERENCE, make_current=version == "v1")
    registry.publish(tmp_path, fitted, "v4", make_current=False)
    sample = tmp_path / f"v2{REFERENCE_SUFFIX}"
    data = bytearray(sample.read_bytes())
    data[-10] ^= 0xFF
    sample.write_bytes(bytes(data))
    (tmp_path / f"v3{REFERENCE_SUFFIX}").unlink()
    return tmp_path


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_models_list_marks_a_damaged_or_missing_reference_sample_and_says_what_it_means(root, capsys) -> None:
    # Before: list showed all four alike; a sample edited or lost was found only when a retraining run
    # from that version failed on it.
    code, out, _ = _run(capsys, "--registry", str(root), "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["VERSION", "CREATED", "PARENT", "THRESHOLD", "SAMPLE", "GATE", "VALIDATION"]
    rows = {line.lstrip("* ").split()[0]: line.split() for line in lines[1:5]}
    assert rows["v1"][-3] == "verified" and rows["v4"][-3] == "none"
    assert rows["v2"][-3] == "DAMAGED" and rows["v3"][-3] == "MISSING"
    notes = lines[5:]
    (damaged,) = [n for n in notes if n.startswith("v2:")]
    assert str(root / f"v2{REFERENCE_SUFFIX}") in damaged and "does not match the digest" in damaged
    assert "retraining" in damaged and "models promote" in damaged  # what it means, what to do
    (missing,) = [n for n in notes if n.startswith("v3:")]
    assert "is missing" in missing and "retraining" in missing
    assert not [n for n in notes if n.startswith(("v1:", "v4:"))]


def test_models_show_gives_the_reference_samples_state_and_why(root, capsys) -> None:
    states = {}
    for version in ("v1", "v2", "v3", "v4"):
        code, out, _ = _run(capsys, "--registry", str(root), "show", version)
        assert code == 0
        shown = json.loads(out)
        states[version] = (shown["reference"], shown["reference_error"])
    assert states["v1"] == ("verified", None) and states["v4"] == ("none", None)
    assert states["v2"][0] == "damaged" and "does not match the digest" in states["v2"][1]
    assert states["v3"][0] == "missing" and "retraining" in states["v3"][1]


def test_promote_and_rollback_to_a_version_whose_sample_is_damaged_warn_that_retraining_will_fail(
    root, capsys
) -> None:
    code, out, err = _run(capsys, "--registry", str(root), "promote", "v2")
    assert code == 0 and out == "v2 is current (was v1)\n"  # the model serves; only retraining needs it
    assert err.startswith("models promote: warning: v2: its reference sample")
    assert "retraining" in err
    code, _, err = _run(capsys, "--registry", str(root), "promote", "v3")
    assert code == 0 and err.startswith("models promote: warning: v3: its reference sample")
    # Rolled back to, it is said again.
    code, out, err = _run(capsys, "--registry", str(root), "rollback")
    assert code == 0 and out == "v2 is current again (was v3)\n"
    assert err.startswith("models rollback: warning: v2: its reference sample") and "retraining" in err
    code, _, err = _run(capsys, "--registry", str(root), "promote", "v1")
    assert code == 0 and err == ""
