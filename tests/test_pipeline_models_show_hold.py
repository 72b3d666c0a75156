"""``models show VERSION`` says a promotion hold in place, as ``models list`` does: in its JSON
(``promotion_hold``, as the run reports record it) and in one line on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.cli import main

HOLD = "promotion-hold.json"


def _show(capsys, registry: Path, version: str) -> tuple[int, dict, str]:
    code = main(["models", "--registry", str(registry), "show", version])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_show_says_the_hold_in_place(registry: Path, capsys) -> None:
    code, shown, err = _show(capsys, registry, "v1")
    assert (code, shown["promotion_hold"], err) == (0, None, "")
    held = ["models", "--registry", str(registry), "hold", "--reason", "bad v2", "--operator", "ana"]
    assert main(held) == 0
    capsys.readouterr()
    since = json.loads((registry / HOLD).read_text())["since"]
    code, shown, err = _show(capsys, registry, "v1")
    # Before: nothing of it, while `models list` started with it: an operator looking at a candidate
    # the retrainer accepted could not tell why it was not promoted.
    assert code == 0
    assert shown["promotion_hold"] == {
        "file": str(registry / HOLD),
        "operator": "ana",
        "since": since,
        "reason": "bad v2",
    }
    assert err.startswith("models show: promotions held since ") and "by ana: bad v2" in err
    assert err.count("\n") == 1


def test_show_says_a_hold_file_that_cannot_be_read(registry: Path, capsys) -> None:
    (registry / HOLD).write_bytes(b"{not json")
    code, shown, err = _show(capsys, registry, "v1")
    assert code == 0 and shown["promotion_hold"]["error"].startswith("JSONDecodeError")
    assert "cannot be read" in err and "holds them all the same" in err
