"""Artifacts that pass their checksum but hold what no DHAG save writes: refused as ArtifactError
before anything is built, never a traceback of another kind nor gigabytes allocated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import dhag.artifact
import dhag.signing
from dhag import DHAG, ArtifactError, load_model, read_manifest


def _parts(fitted: DHAG, tmp_path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    data = fitted.save(tmp_path / "base.dhag").read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    return json.loads(header["__metadata__"]["manifest"]), st_load(data)


def _write_raw(path: Path, manifest_json: str, tensors: dict[str, torch.Tensor]) -> Path:
    """A file whose checksum fits ``manifest_json`` exactly as given (what an editor with the
    format's description can write)."""
    header = {
        "dhag_format": str(dhag.artifact.FORMAT_VERSION),
        "manifest": manifest_json,
        "checksum": dhag.artifact._digest(manifest_json, tensors),
    }
    path.write_bytes(st_save(tensors, metadata=header))
    return path


@pytest.mark.parametrize(
    "manifest_json",
    ['{"a": ' * 100_000 + "1" + "}" * 100_000, '{"threshold": 1' + "0" * 5000 + "}", "[1, 2]", '"text"'],
    ids=["nested-past-the-recursion-limit", "a-number-of-5000-digits", "a-list", "a-string"],
)
def test_a_manifest_no_save_writes_is_an_artifact_error(
    fitted: DHAG, tmp_path: Path, manifest_json: str
) -> None:
    _, tensors = _parts(fitted, tmp_path)
    path = _write_raw(tmp_path / "odd.dhag", manifest_json, tensors)
    for read in (load_model, read_manifest):
        with pytest.raises(ArtifactError, match="manifest"):
            read(path)


def test_a_network_count_past_the_weights_is_refused_before_it_is_built(fitted: DHAG, tmp_path: Path) -> None:
    # 10**7 networks took 2.7 GB and half a minute before the weights were compared.
    manifest, tensors = _parts(fitted, tmp_path)
    path = dhag.artifact.write_artifact(tmp_path / "many.dhag", manifest | {"networks": 10**7}, tensors)
    with pytest.raises(ArtifactError, match="10000000 networks"):
        load_model(path)


@pytest.mark.parametrize("setting", ["latent_dim", "perturbator_hidden"])
def test_huge_layer_sizes_are_compared_on_the_meta_device_not_allocated(
    fitted: DHAG, tmp_path: Path, setting: str
) -> None:
    manifest, tensors = _parts(fitted, tmp_path)
    manifest["settings"][setting] = 10**6
    path = dhag.artifact.write_artifact(tmp_path / "huge.dhag", manifest, tensors)
    with pytest.raises(ArtifactError, match="the network needs"):
        load_model(path)


@pytest.mark.parametrize("dtype", [torch.int64, torch.float16, torch.float64])
def test_weights_of_another_dtype_are_refused_not_cast(
    fitted: DHAG, tmp_path: Path, dtype: torch.dtype
) -> None:
    # An int64 copy loaded (cast silently), passed the hot swap's checks and scored 1.0 on every row.
    manifest, tensors = _parts(fitted, tmp_path)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].to(dtype)
    path = dhag.artifact.write_artifact(tmp_path / "cast.dhag", manifest, tensors)
    with pytest.raises(ArtifactError, match=f"weight {name!r} is {dtype}"):
        load_model(path)


@pytest.mark.parametrize("field", ["means", "threshold"])
def test_a_statistic_or_threshold_that_is_not_a_finite_number_is_refused_on_load(
    fitted: DHAG, tmp_path: Path, field: str
) -> None:
    # JSON as Python reads it takes NaN; loaded, a NaN mean made every row "hold NaN" at scoring, and
    # a NaN threshold flagged nothing.
    manifest, tensors = _parts(fitted, tmp_path)
    if field == "means":
        pre = manifest["preprocessing"]
        manifest["preprocessing"] = pre | {"means": {n: float("nan") for n in pre["means"]}}
    else:
        manifest["threshold"] = float("nan")
    path = _write_raw(tmp_path / "nan.dhag", json.dumps(manifest), tensors)
    with pytest.raises(ArtifactError, match="not a finite number"):
        load_model(path)


@pytest.mark.parametrize("threshold", [float("inf"), float("-inf"), 1.5, -0.25])
def test_a_threshold_that_is_infinite_or_outside_zero_one_is_refused_on_load(
    fitted: DHAG, tmp_path: Path, threshold: float
) -> None:
    # Scores lie in [0, 1]: above 1 nothing is ever flagged, below 0 everything is, and no fit writes
    # either. `dhag score` and predict used such a threshold as it was.
    manifest, tensors = _parts(fitted, tmp_path)
    manifest["threshold"] = threshold
    path = _write_raw(tmp_path / "odd.dhag", json.dumps(manifest), tensors)
    with pytest.raises(ArtifactError, match=r"threshold .* (is not a finite number|is outside \[0, 1\])"):
        load_model(path)


def test_an_infinite_mean_is_refused_on_load(fitted: DHAG, tmp_path: Path) -> None:
    manifest, tensors = _parts(fitted, tmp_path)
    pre = manifest["preprocessing"]
    manifest["preprocessing"] = pre | {"means": {n: float("-inf") for n in pre["means"]}}
    path = _write_raw(tmp_path / "inf.dhag", json.dumps(manifest), tensors)
    with pytest.raises(ArtifactError, match="mean is not a finite number"):
        load_model(path)


@pytest.mark.parametrize("frequencies", [[float("nan"), 0.5], [0.5, float("inf")], [1.5, -0.5], [1.0]])
def test_category_frequencies_that_are_not_one_share_per_category_are_refused_on_load(
    quick_model, tmp_path: Path, frequencies: list[float]
) -> None:
    # They are the typical row explain resets a categorical feature to: a NaN made every contribution
    # of the feature unknown, and a list of another length an occluded row of the wrong width.
    import pandas as pd

    frame = pd.DataFrame({"x": [0.1 * i for i in range(40)], "mode": ["a", "b"] * 20})
    model = quick_model(categorical=["mode"]).fit(frame)
    manifest, tensors = _parts(model, tmp_path)
    pre = manifest["preprocessing"]
    manifest["preprocessing"] = pre | {"category_frequencies": {"mode": frequencies}}
    path = _write_raw(tmp_path / "freq.dhag", json.dumps(manifest), tensors)
    with pytest.raises(ArtifactError, match="category frequencies"):
        load_model(path)


@pytest.mark.parametrize("signature", ["f" * 64, None], ids=["another-key", "unsigned"])
def test_with_a_key_set_a_file_it_did_not_sign_is_refused_on_its_header_alone(
    tmp_path: Path, monkeypatch, signature: str | None
) -> None:
    # Before: the whole file (up to 1 GiB) was read and its tensors copied out before the signature was
    # looked at: whoever could write the registry, without the key, could make the current version a
    # file of 1 GiB, and every daemon reloading it was killed for its memory instead of refusing it.
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "plant-secret")
    meta = {"dhag_format": str(dhag.artifact.FORMAT_VERSION), "manifest": "{}", "checksum": "0" * 64}
    if signature is not None:
        meta["signature"] = signature
    header = json.dumps(
        {"__metadata__": meta, "w": {"dtype": "F32", "shape": [1 << 20], "data_offsets": [0, 4 << 20]}}
    ).encode()
    path = tmp_path / "v9.dhag"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(4 << 20))
    parsed = []
    monkeypatch.setattr(dhag.artifact, "st_load", lambda data: parsed.append(len(data)) or st_load(data))
    with pytest.raises(ArtifactError, match="DHAG_ARTIFACT_KEY"):
        load_model(path)
    assert parsed == []  # refused before the weights were read
    monkeypatch.delenv(dhag.signing.KEY_VARIABLE)  # no key: the file is read, and fails its checksum
    with pytest.raises(ArtifactError, match="fails its checksum"):
        load_model(path)
    assert parsed == [path.stat().st_size]


def test_a_header_longer_than_the_file_or_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "v9.dhag"
    path.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(ArtifactError, match="not a readable DHAG model"):
        load_model(path)


def test_a_network_count_past_one_weight_tensor_says_one_tensor(fitted: DHAG, tmp_path: Path) -> None:
    # Before: "it records 2 networks for 1 weight tensors".
    manifest, tensors = _parts(fitted, tmp_path)
    one = dict(list(tensors.items())[:1])
    path = dhag.artifact.write_artifact(tmp_path / "one.dhag", manifest | {"networks": 2}, one)
    with pytest.raises(ArtifactError, match="it records 2 networks for 1 weight tensor$"):
        load_model(path)
