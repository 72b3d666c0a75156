"""``models promote`` and ``rollback`` of a version that reads other sensors than the current one, which
the daemons serve: they refuse to hot-swap to it, and each one restarted would serve it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import registry
from pipeline.cli import main


def _pointer(root: Path) -> str:
    return (root / "current").read_text().strip()


def test_promote_refuses_a_version_on_other_sensors_unless_told_and_rollback_warns(
    fitted, quick_model, train_rows, tmp_path: Path, capsys
) -> None:
    # Before, 'models promote' of a model on other sensors (a test model, one trained on another
    # plant's history) said "v2 is current (was v1)", exit 0: the running daemons refused to hot-swap to
    # it and kept serving v1, unseen but by an alert, and each daemon restarted after (a rollout, a node
    # drain) served v2 and dead-lettered every reading, which lacks its sensors.
    registry.publish(tmp_path, fitted, "v1")
    other = quick_model(feature_names=["a", "b", "c", "d"]).fit(np.asarray(train_rows))
    registry.publish(tmp_path, other, "v2", make_current=False)
    root = str(tmp_path)
    assert main(["models", "--registry", root, "promote", "v2"]) == 2
    err = capsys.readouterr().err
    assert "refused: not promoting 'v2': it reads the sensors ['a', 'b', 'c', 'd']" in err
    assert "'v1', which the daemons serve, reads ['flow_a', 'flow_b', 'flow_total', 'vibration']" in err
    assert "--other-sensors" in err
    assert _pointer(tmp_path) == "v1" and registry.history(tmp_path) == []
    # Said so: the plant's sensors changed, and the daemons are restarted with it.
    assert main(["models", "--registry", root, "promote", "v2", "--other-sensors"]) == 0
    out, err = capsys.readouterr()
    assert out == "v2 is current (was v1)\n"
    assert "running daemons keep serving v1 until they are restarted" in err
    assert _pointer(tmp_path) == "v2"
    # The way back crosses the sensor change too: done (a rollback is the way out), and said.
    assert main(["models", "--registry", root, "rollback"]) == 0
    out, err = capsys.readouterr()
    assert out == "v1 is current again (was v2)\n"
    assert "v1 reads other sensors than v2" in err
    assert "running daemons keep serving v2 until they are restarted" in err
    # The same sensors: nothing to say.
    registry.publish(tmp_path, fitted, "v3", make_current=False)
    assert main(["models", "--registry", root, "promote", "v3"]) == 0
    assert capsys.readouterr().err == ""


def test_models_train_over_a_current_version_on_other_sensors_says_the_daemons_keep_it(
    fitted, tmp_path: Path, capsys
) -> None:
    # The plant model reads the plant's sensors; the version current before it (a model trained on a
    # feature table) read others. Before, train said "v2 is current" and nothing more, while the
    # running daemons kept serving v1 (they refuse to hot-swap to a model on other sensors).
    registry.publish(tmp_path / "registry", fitted, "v1")
    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "2"]) == 0
    capsys.readouterr()
    base = ["models", "--registry", str(tmp_path / "registry")]
    assert main([*base, "train", str(history), "--time-budget", "2", "--version", "v2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("v2 is current: trained on")
    assert "models train: warning: v2 reads other sensors than v1: running daemons keep serving v1" in err
    assert _pointer(tmp_path / "registry") == "v2"
    # Trained again on the same sensors: nothing to say.
    assert main([*base, "train", str(history), "--time-budget", "2", "--version", "v3"]) == 0
    assert "warning" not in capsys.readouterr().err
