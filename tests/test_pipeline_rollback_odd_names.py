"""``dhag-pipeline models rollback`` names the history entries it passed over, which it reads from the
registry's ``history`` file (edited by hand, or damaged): one that is no version's name, holding a line
break or a terminal's escape, is shown escaped as ``dhag info`` shows a column's name
(:func:`dhag.infotext.shown_name`), so that it neither breaks the line nor acts on the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline import modelcmd, registry
from pipeline.config import Settings

ODD = "v9\x1b]0;owned\x07\nX"  # retitles the window, then breaks the line
SHOWN = r"'v9\x1b]0;owned\x07\nX'"


def _rollback(root: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = SimpleNamespace(action="rollback", registry=str(root))
    return modelcmd.run_models(Settings(), args, out=out, err=err), out.getvalue(), err.getvalue()


@pytest.fixture
def root(fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "k1")
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")  # current; the history lists v1
    return tmp_path


def test_an_entry_passed_over_is_named_escaped(root: Path) -> None:
    # Before: "models rollback: passed over v9<ESC>]0;owned<BEL>" and a line break, raw on stderr.
    (root / "history").write_text(json.dumps(["v1", ODD]))
    code, out, err = _rollback(root)
    assert (code, out) == (0, "v1 is current again (was v2)\n")
    # No note of the retrainer: v2 was published current by hand.
    assert "\x1b" not in err and "\x07" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"models rollback: passed over {SHOWN}: missing (")


def test_a_refusal_lists_the_entries_escaped(root: Path) -> None:
    # Before, the refusal's list of what the history holds wrote each entry raw, likewise.
    (root / "history").write_text(json.dumps([ODD]))
    code, _, err = _rollback(root)
    assert code == 2 and "\x1b" not in err and "\x07" not in err, err
    assert f"\n  {SHOWN}: missing (" in err and "\nX" not in err
