"""The model artifact: one self-describing safetensors file, written atomically, loaded without pickle.

Layout: the network weights as safetensors tensors; the header's string metadata holds
``dhag_format`` (the format version), ``manifest`` (JSON: settings, feature names, preprocessing
statistics, threshold, training metadata and metrics, user metadata) and ``checksum`` (SHA-256 over
the manifest and every tensor's bytes). A truncated file fails the safetensors header check; a changed
byte anywhere fails the checksum; a different format version is refused before anything is built.

The checksum detects damage, not a deliberate forgery: where ``DHAG_ARTIFACT_KEY`` holds a secret, every
artifact is also signed with it, and only artifacts it signed are loaded (:mod:`dhag.signing`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dhag.artifacthead import cut_short, described, no_header, not_regular, unreadable, weights_cut_short
from dhag.atomicwrite import write_atomic
from dhag.exceptions import ArtifactError, ArtifactSignatureError, ArtifactTooNewError, DHAGError
from dhag.infotext import counted, shown_name
from dhag.legacy import as_built, left_out, read_as_before
from dhag.metadata import checked_metadata
from dhag.modelnear import missing_hint
from dhag.outofmemory import is_out_of_memory
from dhag.params import settings_as_trained
from dhag.preprocessing import Preprocessor
from dhag.signing import KEY_VARIABLE, signature, signing_key, verify_signature
from dhag.threshold import threshold_problem

if TYPE_CHECKING:
    from dhag.estimator import DHAG


__all__ = [
    "FORMAT_VERSION",
    "check_settings",
    "load_model",
    "read_manifest",
    "save_model",
    "sign_artifact",
    "write_artifact",
    "write_atomic",
]

FORMAT_VERSION = 1
_MAX_BYTES = 1 << 30
# What to do with an artifact a newer version wrote (while two versions run side by side, or after
# going back to an earlier one).
_NEWER = "load it with that version or a later one, or use a model this version wrote"


def _digest(manifest_json: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(manifest_json.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    """A setting as JSON holds it: numpy scalars as Python numbers, a ``torch.device`` (which fit
    takes as ``device``) as its name, and tuples, arrays and pandas indexes (which scikit-learn style
    callers pass for column lists) as lists.

    >>> import numpy as np
    >>> _jsonable(np.int64(3)), _jsonable(("a", np.str_("b"))), _jsonable(np.array([1.5]))
    (3, ['a', 'b'], [1.5])
    >>> _jsonable(torch.device("cuda", 0))
    'cuda:0'
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        return value
    return [_jsonable(v) for v in value]


def _serialisable(part: Any) -> bool:
    try:
        json.dumps(part, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def save_model(model: DHAG, path: str | Path, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write a fitted :class:`~dhag.DHAG` to ``path`` atomically (temp file, fsync, rename).

    ``metadata`` is free-form JSON-ready information kept beside the model (a registry version, a
    parent version, a training window...): a dict that loads back as given, else (a key that is no
    text, a tuple, NaN, an object) it is refused naming where (:func:`~dhag.metadata.checked_metadata`);
    without it, the model's ``metadata_`` is written, held to the same rule. Returns the path written.
    A ``path`` that is a folder is refused with :class:`ArtifactError`.
    """
    from dhag.ensemble import DHAGEnsemble

    path = Path(path).expanduser()
    if path.is_dir():  # refused before the artifact is built, not by the rename that would end its write
        raise ArtifactError(
            f"Cannot save the model to {str(path)!r}: it is a folder; name the model file to write, such "
            f"as {str(path / 'model.dhag')!r}."
        )
    threshold = model.threshold_
    if (problem := threshold_problem(threshold)) is not None:  # written, it could never be loaded
        raise ArtifactError(
            f"The model cannot be saved: its threshold {threshold!r} {problem}; load_model refuses a "
            "threshold that is not a number in [0, 1]."
        )
    threshold = float(threshold)
    if metadata is None:
        metadata = checked_metadata(getattr(model, "metadata_", {}), "metadata_")
    else:
        metadata = checked_metadata(metadata)
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.net_.state_dict().items()}
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": "dhag",
        # Less those at their value from before they existed, so releases from then load the model.
        "settings": left_out({k: _jsonable(v) for k, v in settings_as_trained(model).items()}),
        "feature_names": list(model.feature_names_in_),
        "output_names": list(model.preprocessor_.output_names_),
        "preprocessing": model.preprocessor_.to_dict(),
        "threshold": threshold,
        # How many networks the weights hold: n_members times the snapshots each training kept.
        "networks": len(model.net_.members) if isinstance(model.net_, DHAGEnsemble) else 1,
        "training": model.training_,
        "metadata": metadata,
    }
    return write_artifact(path, manifest, tensors)


def write_artifact(path: Path, manifest: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
    """Write a manifest and its weights as one checksummed safetensors file, atomically."""
    try:
        manifest_json = json.dumps(manifest, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        where = [key for key, part in manifest.items() if not _serialisable(part)]
        raise ArtifactError(
            f"The model cannot be saved: its {' and '.join(where) or 'manifest'} is not JSON-serialisable "
            f"({exc})."
        ) from exc
    header = {
        "dhag_format": str(FORMAT_VERSION),
        "manifest": manifest_json,
        "checksum": _digest(manifest_json, tensors),
    }
    key = signing_key()
    if key is not None:
        header["signature"] = signature(key, header["dhag_format"], header["checksum"])
    payload = st_save(tensors, metadata=header)
    if len(payload) > _MAX_BYTES:  # written, it could never be loaded
        raise ArtifactError(f"The model is {len(payload)} bytes; an artifact may hold at most {_MAX_BYTES}.")
    return write_atomic(path, payload)


def _read(
    path: Path, *, check_signature: bool = True
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, str]]:
    """The manifest, weights and header metadata of the artifact at ``path``, verified. With a key set,
    the signature is checked on the header alone, before the weights are read: a file the key did not
    sign costs no more than its header, however large it is."""
    try:
        # Looked at unopened (opening a named pipe may wait for a writer; a device never ends), then
        # opened without blocking and looked at again, in case it was replaced meanwhile.
        if refused := not_regular(path, os.stat(path).st_mode):
            raise refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        status = os.fstat(fd)
        if refused := not_regular(path, status.st_mode):
            os.close(fd)
            raise refused
        with os.fdopen(fd, "rb") as fh:
            head = fh.read(8)
            header_len = int.from_bytes(head, "little")
            # A data file's first bytes announce a header larger than the file: said from a few bytes
            # more, where reading up to the header's length would read the whole file.
            fits = len(head) == 8 and header_len <= status.st_size - 8
            header_bytes = fh.read(min(header_len, 1) if fits else 32)
            if fits and (not header_len or header_bytes != b"{"):  # a safetensors header is a JSON object
                start = head + header_bytes
                if described(start, status.st_size):  # text or zeros: a few bytes more say what it is
                    start += fh.read(32 - len(header_bytes))
                raise unreadable(path, ValueError(no_header(start, header_len, status.st_size)))
            header_bytes += fh.read(min(header_len, _MAX_BYTES) - len(header_bytes)) if fits else b""
            if not fits or len(header_bytes) < header_len:
                size = max(status.st_size, len(head) + len(header_bytes))
                raise unreadable(path, ValueError(cut_short(head, header_len, header_bytes, size=size)))
            try:
                header = json.loads(header_bytes)
                meta = _header_meta(path, header)
            except (ValueError, RecursionError, AttributeError) as exc:
                raise unreadable(path, exc) from exc
            if check_signature and "checksum" in meta:  # without one, the checksum check refuses it
                meta = verify_signature(path, meta)
            if said := weights_cut_short(header, header_len, status.st_size):  # before reading them
                raise unreadable(path, ValueError(said))
            data = head + header_bytes + fh.read(_MAX_BYTES + 1 - 8 - header_len)  # it may have grown
        if len(data) > _MAX_BYTES:
            raise ArtifactError(f"Model artifact {str(path)!r} is over the limit of {_MAX_BYTES} bytes.")
    except OSError as exc:
        hint = missing_hint(path) if isinstance(exc, FileNotFoundError) else ""
        said = f"Cannot read model artifact {str(path)!r}: {exc.strerror or exc}"
        raise ArtifactError(f"{said}; {hint}" if hint else f"{said}.") from exc
    try:
        tensors = st_load(data)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged file
        if is_out_of_memory(exc):  # the weights are too many for this memory, not damaged
            raise
        raise unreadable(path, exc) from exc
    manifest_json = meta.get("manifest", "")
    if _digest(manifest_json, tensors) != meta.get("checksum"):
        raise ArtifactError(f"Model artifact {str(path)!r} fails its checksum: it was modified or damaged.")
    try:
        manifest = json.loads(manifest_json)
    except (ValueError, RecursionError) as exc:  # also nesting past the limit, a number of 5,000 digits
        raise ArtifactError(f"Model artifact {str(path)!r} has an unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"Model artifact {str(path)!r} has a manifest that is no JSON object.")
    return manifest, tensors, meta


def _header_meta(path: Path, header: Any) -> dict[str, str]:
    """The string metadata of a safetensors header, of this build's format version, or
    :class:`ArtifactError`."""
    meta = header.get("__metadata__") or {}  # a header that is no JSON object: AttributeError
    if not isinstance(meta, dict):
        raise ValueError("its header metadata is no JSON object")
    version = meta.get("dhag_format")
    if version is None:
        raise ArtifactError(f"Model artifact {str(path)!r} carries no 'dhag_format' marker.")
    if version != str(FORMAT_VERSION):
        later = version.isdigit() and int(version) > FORMAT_VERSION
        raise (ArtifactTooNewError if later else ArtifactError)(
            f"Model artifact {str(path)!r} has format version {shown_name(version)}; this build reads "
            f"version {FORMAT_VERSION} only."
            + (f" It was written by a newer version of dhag: {_NEWER}." if later else "")
        )
    return meta


def _check_tensors(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor]) -> None:
    """Raise :class:`ArtifactError` unless ``tensors`` has exactly the names, shapes and dtypes of
    ``expected`` (a network built on the meta device: its shapes, nothing allocated); loading would
    otherwise cast an int64 or float16 tensor silently."""
    if set(expected) != set(tensors):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise ArtifactError(f"weights do not fit the network (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, want in expected.items():
        got = tensors[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ArtifactError(
                f"weight {name!r} is {got.dtype} {tuple(got.shape)}, the network needs {want.dtype} "
                f"{tuple(want.shape)}"
            )


def sign_artifact(path: str | Path, out: str | Path | None = None) -> Path:
    """Write ``path`` again, signed with the key in ``DHAG_ARTIFACT_KEY``, to ``out`` (default: in place,
    atomically): how models written before a deployment set its key are carried over. The file must pass
    its checksum; an existing signature is not checked, since replacing it is the point.
    """
    if signing_key() is None:
        raise ArtifactError(f"{KEY_VARIABLE} is not set: there is no key to sign {str(path)!r} with.")
    manifest, tensors, _ = _read(Path(path).expanduser(), check_signature=False)
    return write_artifact(Path(path if out is None else out).expanduser(), manifest, tensors)


def read_manifest(path: str | Path, *, with_signature: bool = False) -> dict[str, Any]:
    """The verified manifest of an artifact (settings, features, threshold, training, metadata); with
    ``with_signature``, also ``"signed"``: whether it carries a signature, ``"signed_with_previous_key"``:
    whether only ``DHAG_ARTIFACT_PREVIOUS_KEY`` matched it (it is due to be re-signed), and
    ``"signature_refused"``: why every load refuses it under ``DHAG_ARTIFACT_KEY`` (None where none does),
    which is raised without ``with_signature``."""
    path, refused = Path(path).expanduser(), None
    try:
        manifest, _, meta = _read(path)
    except ArtifactSignatureError as exc:
        if not with_signature:
            raise
        manifest, _, meta, refused = *_read(path, check_signature=False), str(exc)
    if not with_signature:
        return manifest
    return manifest | {
        "signed": "signature" in meta,
        "signed_with_previous_key": meta.get("signed_with") == "previous",
        "signature_refused": refused,
    }


def _known_settings() -> frozenset[str]:
    """The settings this release's DHAG takes: a manifest listing another is a later release's."""
    from dhag.estimator import DHAG

    return frozenset(inspect.signature(DHAG).parameters)


def check_settings(path: str | Path, manifest: dict[str, Any]) -> None:
    """Raise :class:`ArtifactTooNewError` when ``manifest`` (of the artifact at ``path``) lists a
    setting this release does not know, as :func:`load_model` does before it reads any weights: a
    setting added by a later version changes how its model trains or scores, which this version cannot
    honour."""
    given = manifest.get("settings")
    if isinstance(given, dict) and (unknown := sorted(set(given) - _known_settings())):
        names = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
        raise ArtifactTooNewError(
            f"Model artifact {str(path)!r} was written by a newer version of dhag, with settings this "
            f"version does not know ({names}): {_NEWER}."
        )


def load_model(path: str | Path, *, device: str = "cpu") -> DHAG:
    """Load and verify an artifact; the model is rebuilt fully before it is returned, or not at all. Its
    settings are those it was built with (:func:`~dhag.legacy.as_built`); ``device`` is where it scores."""
    from dhag.ensemble import build_net
    from dhag.estimator import DHAG
    from dhag.modules import DHAGNet
    from dhag.params import resolve_device

    path = Path(path).expanduser()
    dev = resolve_device(device, given_to="load_model")  # the caller's error, not the file's
    manifest, tensors, _ = _read(path)
    check_settings(path, manifest)  # rather than fail on an unexpected keyword
    try:
        # A setting the manifest leaves out (written before it existed, or at the value from before it):
        # as before it existed, whatever the default is now, so a retrain from it trains as its model was.
        settings = read_as_before(manifest["settings"])
        model = DHAG(**as_built(settings))
        pre = Preprocessor.from_dict(manifest["preprocessing"])
        if pre.output_names_ != manifest["output_names"]:
            raise ArtifactError("preprocessing does not produce the recorded features")
        arch = {a: settings[a] for a in DHAG._ARCH}
        # Artifacts written before snapshot ensembles held n_members networks.
        networks = int(manifest.get("networks", settings["n_members"]))
        if not 1 <= networks <= len(tensors):  # each network has weights of its own
            raise ArtifactError(
                f"it records {counted(networks, 'network')} for {counted(len(tensors), 'weight tensor')}"
            )

        def make() -> DHAGNet:
            return DHAGNet(n_features=len(pre.output_names_), **arch)

        with torch.device("meta"):  # the shapes the settings ask for, before any memory is taken
            _check_tensors(build_net(networks, make).state_dict(), tensors)
        with torch.device("cpu"):  # not a caller's default device: the weights are read to the CPU
            net = build_net(networks, make)
        net.load_state_dict(tensors, strict=True)
        threshold = float(manifest["threshold"])
        if (problem := threshold_problem(threshold)) is not None:
            raise ArtifactError(f"its threshold {threshold} {problem}")
    except ArtifactError as exc:
        raise ArtifactError(f"Model artifact {str(path)!r} is inconsistent: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, DHAGError) as exc:
        if is_out_of_memory(exc):  # the networks did not fit in memory: no fault of the file
            raise
        raise ArtifactError(f"Model artifact {str(path)!r} is inconsistent: {exc}") from exc
    # Outside the file's checks: a device that cannot take the model (out of memory, gone) raises its
    # own error (a RuntimeError), which says nothing of the file.
    net.to(dev).eval()
    model.preprocessor_ = pre
    model.net_ = net
    model.device_ = dev
    model.feature_names_in_ = list(pre.feature_names_in_)
    model.n_features_in_ = len(pre.feature_names_in_)
    model.threshold_ = threshold
    model.training_ = manifest.get("training", {})
    model.metadata_ = manifest.get("metadata", {})
    return model
