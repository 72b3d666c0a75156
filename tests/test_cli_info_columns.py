"""``dhag info`` says how a model reads each feature: which are categories (and which categories it
knows: a value outside them scores as in none) and which are passed through unscaled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import DHAG
from dhag.cli import main


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "flow": rng.normal(size=300),
            "site": rng.choice(["north", "south"], 300),
            "valve": rng.integers(0, 2, 300),
            "part": [f"p{i % 30:02d}" for i in range(300)],
        }
    )
    model = DHAG(max_epochs=1, categorical=["site", "part"], passthrough=["valve"], random_state=0)
    return model.fit(frame).save(tmp_path_factory.mktemp("info") / "mixed.dhag")


def _info(path: Path, capsys) -> list[str]:
    assert main(["info", str(path)]) == 0
    return capsys.readouterr().out.splitlines()


def test_info_names_the_categorical_features_and_their_categories(mixed: Path, capsys) -> None:
    lines = _info(mixed, capsys)
    line = next(line for line in lines if line.startswith("categorical (2): "))
    assert "site (2 categories: north, south)" in line
    assert "part (30 categories: p00, p01, p02, p03, p04, p05, p06, p07, p08, p09 and 20 more)" in line
    assert "valve" not in line and "flow" not in line
    assert "passthrough (1, unscaled): valve" in lines


def test_info_names_the_categorical_features_in_the_features_order(mixed: Path, capsys) -> None:
    # They came sorted by name, as the manifest keeps them: 'part' before 'site', which the features line
    # names first.
    lines = _info(mixed, capsys)
    assert next(line for line in lines if line.startswith("features (4): ")).endswith(
        "flow, site, valve, part"
    )
    line = next(line for line in lines if line.startswith("categorical (2): "))
    assert line.startswith("categorical (2): site (2 categories") and "; part (30 categories" in line


def test_info_on_a_model_of_numbers_alone_has_no_such_lines(model_path: Path, capsys) -> None:
    lines = _info(model_path, capsys)
    assert not any(line.startswith(("categorical", "passthrough")) for line in lines)


def test_info_shows_names_with_line_breaks_or_control_characters_escaped(tmp_path: Path, capsys) -> None:
    # Before, a name with a line break split the features line in two, and one with an escape sequence
    # acted on the terminal; plain names, accented ones too, are shown as they are.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "flow\nrate": rng.normal(size=300),
            "temp\x1b[2J": rng.normal(size=300),
            "débit": rng.normal(size=300),
            "site\r": rng.choice(["north\tside", "south"], 300),
            "valve\u2028": rng.normal(size=300),
        }
    )
    model = DHAG(max_epochs=1, categorical=["site\r"], passthrough=["valve\u2028"], random_state=0)
    lines = _info(model.fit(frame).save(tmp_path / "odd.dhag"), capsys)
    assert not any(c in "".join(lines) for c in "\x1b\r\t\u2028")
    assert r"features (5): 'flow\nrate', 'temp\x1b[2J', débit, 'site\r', 'valve\u2028'" in lines
    assert r"categorical (1): 'site\r' (2 categories: 'north\tside', south)" in lines
    assert r"passthrough (1, unscaled): 'valve\u2028'" in lines
    ranges = next(line for line in lines if line.startswith("training ranges: "))
    assert r"'flow\nrate' [" in ranges and "débit [" in ranges


@pytest.mark.parametrize("held_out", [0.1, 0.0])
def test_info_says_which_rows_the_threshold_was_calibrated_on(
    held_out: float, tmp_path: Path, capsys
) -> None:
    # A model whose threshold came from its training rows (none held out: validation_fraction 0, or too
    # few rows, as `dhag train` on 3 rows) was said to be calibrated on held-out normal rows.
    rows = pd.DataFrame({"flow": np.random.default_rng(1).normal(size=200)})
    model = DHAG(max_epochs=1, validation_fraction=held_out, random_state=0).fit(rows)
    said = [line for line in _info(model.save(tmp_path / "m.dhag"), capsys) if line.startswith("threshold:")]
    rule = "held-out normal rows" if held_out else "the 200 rows the network trained on, none held out"
    assert said == [f"threshold: {model.threshold_:.6f} (target_far 0.01: the false-alarm rate on {rule})"]
