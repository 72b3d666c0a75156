"""``dhag info``: what a model file holds, from its manifest (the weights are not loaded)."""

from __future__ import annotations

import argparse
import io
import json
import shlex
from contextlib import redirect_stdout
from pathlib import Path

from dhag.artifact import read_manifest
from dhag.exceptions import ArtifactSignatureError
from dhag.infotext import (
    SHOWN,
    column_kinds,
    counted,
    kept_weights,
    listed_in_part,
    shown_metadata,
    shown_name,
    threshold_rule,
    trained_rows,
)
from dhag.legacy import dropped_note, read_as_before
from dhag.retry import describe_health
from dhag.scoreswrite import check_standard_output, print_out
from dhag.signing import KEY_VARIABLE, PREVIOUS_KEY_VARIABLE, signing_key

__all__ = ["cmd_info"]


def cmd_info(args: argparse.Namespace) -> int:
    check_standard_output(
        "what dhag info says of the model has nowhere to go: run it with standard output open, or "
        "redirected to a file; nothing was read"
    )
    said = io.StringIO()
    with redirect_stdout(said):
        refused = _describe(args)
    print_out(said.getvalue().removesuffix("\n"), what="what dhag info says of the model")
    if refused is not None:  # described all the same; the status says, as score's would, that it is refused
        raise ArtifactSignatureError(refused)
    return 0


def _describe(args: argparse.Namespace) -> str | None:
    """Print what the model holds; return why loading it refuses its signature, None where it loads."""
    manifest = read_manifest(args.model, with_signature=True)
    refused = manifest["signature_refused"]
    # A signature is checked only against a key: without one, it is there, not known to be this deployment's.
    manifest["signature_verified"] = manifest["signed"] and signing_key() is not None and refused is None
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return refused
    t = manifest.get("training", {})
    print(f"DHAG model, format {manifest['format_version']}")
    names = [shown_name(name) for name in manifest["feature_names"]]
    listed = listed_in_part(names) + (" (dhag info --json lists them)" if len(names) > SHOWN else "")
    print(f"features ({len(names)}): {listed}")
    for line in column_kinds(manifest.get("preprocessing", {})):
        print(line)
    ranges = manifest.get("preprocessing", {}).get("ranges") or {}
    if ranges:
        # In the features' order, as the line above names them (the manifest keeps them sorted by name).
        kept = [(name, ranges[name]) for name in manifest["feature_names"] if name in ranges]
        shown = [f"{shown_name(name)} [{lo:.4g}, {hi:.4g}]" for name, (lo, hi) in kept]
        print(f"training ranges: {listed_in_part(shown)}")
    # A setting the manifest leaves out is at its value from before it existed (dhag.legacy).
    settings = read_as_before(manifest.get("settings", {}))
    print(f"threshold: {manifest['threshold']:.6f} ({threshold_rule(settings, t.get('calibration'))})")
    if note := dropped_note(settings):
        print(f"retrain: {note}; the retrainer trains candidates without it, as this model was trained")
    if isinstance(dropped := t.get("dropped_settings"), dict) and dropped:
        print(f"retrained without its parent's {', '.join(f'{k} {v}' for k, v in dropped.items())}")
    print(f"signed: {_signature_state(manifest, args.model)}")
    recipe, weighting = settings["recipe"], settings["ce_weighting"]
    print(f"recipe: {recipe} (networks and regularisers), L_ce weighed by {weighting}")
    print(
        f"trained: {trained_rows(t)}, "
        f"{counted(t.get('epochs_run'), 'epoch')} ({kept_weights(t)}, {t.get('stopped_by')}), "
        f"{t.get('fit_seconds')}s on {t.get('device')}"
    )
    if "ce_vs_constant" in t:
        print(f"training health: {describe_health(t)}")
    if len(t.get("attempts", [])) > 1:
        first, kept = t["attempts"][0], t["attempts"][-1]
        print(
            f"retried: the first training collapsed (L_ce at {first['ce_vs_constant']:.3f}); kept a retry "
            f"with ce_target={kept['ce_target']}, shift_weight={kept['shift_weight']}"
        )
    if t.get("members"):
        members = t["members"]
        retried = sum(len(m["attempts"]) > 1 for m in members)
        print(
            f"ensemble: the mean score of {len(members)} networks (seeds "
            f"{', '.join(str(m['seed']) for m in members)}; L_ce at "
            f"{', '.join(format(m['ce_vs_constant'], '.3f') for m in members)} of a constant predictor's; "
            f"{retried} retried); epochs and retry above are member 0's"
        )
    if t.get("outlier_probe_auroc") is not None:
        print(
            f"outlier probe: held-out rows pushed 6-9 sd in one column outscore the rows with AUROC "
            f"{t['outlier_probe_auroc']:.3f}; final lambda_norm {t.get('lambda_norm_final')}"
        )
    if manifest.get("metadata"):
        print(f"metadata: {json.dumps(shown_metadata(manifest['metadata']), sort_keys=True)}")
    return refused


def _signature_state(manifest: dict, model: Path) -> str:
    """What ``signed:`` says of the model's signature under the keys set."""
    if manifest["signature_refused"] is not None:
        if not manifest["signed"]:
            return (
                f"no, and {KEY_VARIABLE} is set: loading and scoring refuse it; dhag sign "
                f"{shlex.quote(str(model))} signs it with the key"
            )
        which = (
            f"{KEY_VARIABLE} does not match"
            if signing_key(PREVIOUS_KEY_VARIABLE) is None
            else f"neither {KEY_VARIABLE} nor {PREVIOUS_KEY_VARIABLE} matches"
        )
        return f"a signature that {which} (another key's, or modified): loading and scoring refuse it"
    if manifest["signed_with_previous_key"]:
        return f"with {PREVIOUS_KEY_VARIABLE}, the key being rotated out; re-sign it with `dhag sign`"
    if manifest["signature_verified"]:
        return f"yes, with the key in {KEY_VARIABLE}"
    if manifest["signed"]:
        return (
            f"a signature, not verified: {KEY_VARIABLE} is not set (set it to check the signature, as every "
            "load then does)"
        )
    return f"no (with {KEY_VARIABLE} set, only signed models load)"
