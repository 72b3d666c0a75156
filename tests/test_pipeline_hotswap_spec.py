"""A model whose file passes every artifact check but whose derived-feature spec is malformed (a file
edited with its checksum rewritten, where no signing key is set): refused by the hot swap, and never
put in service to fail at the first batch."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import dhag.artifact
from pipeline import registry
from pipeline.config import Settings
from pipeline.errors import ModelUnavailableError
from pipeline.features import INPUT_SENSORS, METADATA_KEY, PlantFeatures
from pipeline.hotswap import ModelReloader
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor


def _with_spec(root: Path, version: str, spec: object) -> None:
    path = root / f"{version}.dhag"
    manifest, tensors, _ = dhag.artifact._read(path)
    manifest["metadata"][METADATA_KEY] = spec
    dhag.artifact.write_artifact(path, manifest, tensors)


SPECS = {
    "no references": {"version": 1, "inputs": list(INPUT_SENSORS), "input_means": {}},
    "not an object": "plant",
    "references cut short": {
        "version": 1,
        "inputs": list(INPUT_SENSORS),
        "references": {"p1": [1.0, 2.0]},
        "input_means": {},
    },
}


@pytest.mark.parametrize("name", SPECS)
def test_a_malformed_feature_spec_is_refused_and_the_model_in_use_keeps_serving(
    plant_model, tmp_path: Path, caplog, name: str
) -> None:
    registry.publish(tmp_path, plant_model, "v1")
    settings = Settings.model_validate({"model": {"registry": str(tmp_path), "reload_check_s": 1.0}})
    prom = CollectorRegistry()
    metrics = PipelineMetrics(prom)
    processor = BatchProcessor(settings, *reversed(registry.load_current(tmp_path)), metrics)
    reloader = ModelReloader(settings.model, processor, metrics)
    registry.publish(tmp_path, plant_model, "v2")
    _with_spec(tmp_path, "v2", SPECS[name])
    # Before: a KeyError or AttributeError left the daemon's loop, or the swap took a model that
    # failed on its first batch.
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert reloader.check() is False
    assert "model reload refused, v1 keeps serving" in caplog.text and METADATA_KEY in caplog.text
    assert processor.model_version == "v1"
    assert prom.get_sample_value("dhag_model_reloads_total", {"result": "failed"}) == 1
    with pytest.raises(ValueError, match=METADATA_KEY):
        PlantFeatures.from_metadata(SPECS[name])  # type: ignore[arg-type]


def test_a_malformed_feature_spec_stops_the_daemons_start_naming_the_version(
    plant_model, tmp_path: Path, capfd, monkeypatch
) -> None:
    import yaml

    from pipeline import cli

    for name in [n for n in os.environ if n.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(name)
    registry.publish(tmp_path, plant_model, "v1")
    _with_spec(tmp_path, "v1", SPECS["no references"])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": {"registry": str(tmp_path)}, "metrics": {"enabled": False}}))
    # Before: the ValueError came from building the batch processor: a traceback, exit 1.
    assert cli.main(["run", "--config", str(config)]) == cli.EXIT_MODEL
    assert "Model version 'v1' cannot be fed: malformed" in capfd.readouterr().err
    with pytest.raises(ModelUnavailableError, match="cannot be fed"):
        registry.load_current(tmp_path)
