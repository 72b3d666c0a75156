"""Model paths given with ``~``, as a user types them in Python: the home folder, as a shell reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plant_data import normal

from dhag import DHAG, load_model, read_manifest
from dhag.artifact import sign_artifact


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder of its own, and a working folder apart from it (where an unexpanded ``~`` went)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "home"


def test_save_and_load_expand_a_tilde_to_the_home_folder(fitted: DHAG, home: Path, rng) -> None:
    # save("~/m.dhag") wrote ./~/m.dhag (a folder named "~" in the working folder) and load_model and
    # read_manifest looked for that one, not for the file in the home folder.
    written = fitted.save("~/m.dhag")
    assert written == home / "m.dhag" and written.is_file()
    assert not (home.parent / "cwd" / "~").exists()
    rows = normal(rng, 20)
    for loaded in (load_model("~/m.dhag"), DHAG.load("~/m.dhag")):
        np.testing.assert_array_equal(loaded.decision_function(rows), fitted.decision_function(rows))
    assert read_manifest("~/m.dhag")["feature_names"] == fitted.feature_names_in_


def test_signing_expands_a_tilde_in_both_paths(fitted: DHAG, home: Path, monkeypatch) -> None:
    fitted.save(home / "m.dhag")
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "a key for this test")
    assert sign_artifact("~/m.dhag", "~/signed.dhag") == home / "signed.dhag"
    assert read_manifest("~/signed.dhag", with_signature=True)["signed"]
    assert sign_artifact("~/m.dhag") == home / "m.dhag"
    assert not (home.parent / "cwd" / "~").exists()
