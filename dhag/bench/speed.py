"""Training and scoring speed of DHAG on synthetic data of a given shape (speed, not quality).

Training is timed with :func:`dhag.training.train` (the loop ``DHAG.fit`` runs) on a
:class:`~dhag.modules.DHAGNet` built from DHAG's default settings, one timestamp per epoch from its
``on_epoch`` callback, after a few warm-up steps so that one-off costs (allocator, kernel selection)
do not land in the first epoch. Scoring is timed through ``DHAG.score_matrix``, the streaming
scorer's hot path, on an already preprocessed float32 matrix.
"""

from __future__ import annotations

import inspect
import logging
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dhag.bench import run_meta, write_json
from dhag.estimator import DHAG
from dhag.modules import DHAGNet
from dhag.params import resolve_device
from dhag.training import TrainConfig, make_optimizers, train, train_step

__all__ = ["run_speed"]

logger = logging.getLogger(__name__)

_SCORER_FIT_ROWS = 4096


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _train_config(params: dict[str, Any], epochs: int) -> TrainConfig:
    timed = {
        **params,
        "max_epochs": epochs,
        "max_steps": None,
        "time_budget": None,
        "early_stopping": False,
        "progress": False,
    }
    return DHAG(**timed).training_config()


def _time_training(
    params: dict[str, Any],
    rows: int,
    features: int,
    epochs: int,
    device: torch.device,
    seed: int,
    warmup_steps: int,
) -> tuple[list[float], int]:
    """Seconds per epoch of ``dhag.training.train`` and the number of rows one epoch consumes."""
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(rows, features, generator=gen, device=device)
    arch = [name for name in inspect.signature(DHAGNet).parameters if name != "n_features"]
    net = DHAGNet(n_features=features, **{a: params[a] for a in arch}).to(device)
    cfg = _train_config(params, epochs)
    batch = min(cfg.batch_size, rows)
    opts = make_optimizers(net, cfg)
    # Every synthetic column is z-scored, so each may be shifted, as fit would allow.
    shift_columns = torch.arange(features, device=device)
    for step in range(warmup_steps):
        start = (step * batch) % max(rows - batch, 1)
        train_step(net, opts, x[start : start + batch], cfg, generator=gen, shift_columns=shift_columns)
    _sync(device)
    stamps = [time.perf_counter()]

    def on_epoch(_record: dict[str, float]) -> None:
        _sync(device)
        stamps.append(time.perf_counter())

    train(net, x, cfg, shift_columns=shift_columns, generator=gen, on_epoch=on_epoch)
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)], max(rows // batch, 1) * batch


def _time_scoring(
    params: dict[str, Any], features: int, score_rows: int, score_batch: int, repeats: int, seed: int
) -> tuple[list[float], str]:
    """Seconds to score ``score_rows`` rows in ``score_batch`` batches, per repeat."""
    rng = np.random.default_rng(seed)
    fit_params = {
        **params,
        # One epoch per network kept: a snapshot ensemble keeps states of the second half.
        "max_epochs": 2 * params["snapshots"],
        "early_stopping": False,
        "validation_fraction": 0.0,
        # Its threshold is never used: from a quantile of the training scores, which fit does not warn
        # about as it would about a target false-alarm rate placed on rows the network trained on.
        "contamination": 0.1,
        "progress": False,
    }
    det = DHAG(**fit_params).fit(rng.standard_normal((_SCORER_FIT_ROWS, features)))
    matrix = rng.standard_normal((score_rows, features), dtype=np.float32)
    det.score_matrix(matrix[:score_batch])  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, score_rows, score_batch):
            det.score_matrix(matrix[start : start + score_batch])
        times.append(time.perf_counter() - started)
    return times, str(det.device_)


def run_speed(
    rows: int = 200_000,
    features: int = 121,
    n_perturbators: int = 5,
    batch_size: int = 512,
    epochs: int = 2,
    device: str = "auto",
    json_path: str | Path | None = None,
    *,
    score_rows: int = 1_048_576,
    score_batch: int = 65_536,
    repeats: int = 3,
    warmup_steps: int = 5,
    seed: int = 0,
    command: str | None = None,
    score_snapshots: int = 1,
    score_members: int = 1,
    recipe: str = "paper",
    bf16: bool = False,
) -> dict[str, Any]:
    """Measure DHAG's training epoch time and scoring throughput on random data.

    Parameters
    ----------
    rows, features : shape of the synthetic training table (standard normal, float32).
    n_perturbators, batch_size : DHAG settings; everything else is DHAG's default.
    epochs : measured training epochs; ``train_epoch_seconds`` is their median.
    device : ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    json_path : when given, the result is also written there.
    score_rows, score_batch : rows scored per repeat and the batch handed to ``score_matrix``.
    repeats : scoring repeats; the best is reported.
    warmup_steps : untimed ``train_step`` calls before the timed epochs.
    score_snapshots : the scored model keeps this many end-of-epoch states (``DHAG(snapshots=...)``)
        and scores each row with all of them; 1, the default, is one network.
    score_members : the scored model trains this many networks (``DHAG(n_members=...)``) and scores
        each row with all of them; with ``score_snapshots`` it holds their product.
    recipe : how the networks are built and trained (``DHAG(recipe=...)``), for both timings.
    bf16 : train under bfloat16 autocast (``DHAG(bf16=True)``), CUDA only; scoring stays float32.

    Returns
    -------
    dict : ``train_epoch_seconds``, ``train_samples_per_second``, ``train_seconds_total`` (all timed
        epochs together: with ``epochs=50``, a 50-epoch training), ``score_rows_per_second``,
        ``peak_rss_mb``, ``device``, the raw timings, and ``meta``.
    """
    counts = (rows, features, epochs, score_rows, score_batch, repeats, score_snapshots, score_members)
    if min(counts) < 1 or rows < 2:
        raise ValueError(
            "rows (>= 2), features, epochs, score_rows, score_batch, repeats, score_snapshots and "
            "score_members must be >= 1."
        )
    dev = resolve_device(device)
    if bf16 and dev.type != "cuda":  # the library would train in float32 and the figure would say bf16
        raise ValueError(f"bf16 autocast trains on a CUDA device only; the device is {dev}.")
    torch.manual_seed(seed)
    params = DHAG(
        n_perturbators=n_perturbators,
        batch_size=batch_size,
        device=str(dev),
        random_state=seed,
        recipe=recipe,
        bf16=bf16,
    ).get_params()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    epoch_times, samples_per_epoch = _time_training(params, rows, features, epochs, dev, seed, warmup_steps)
    median_epoch = statistics.median(epoch_times)
    logger.info("speed: %d epochs of %d rows, median %.2fs", epochs, rows, median_epoch)
    scorer = params | {"snapshots": score_snapshots, "n_members": score_members}
    score_times, score_device = _time_scoring(scorer, features, score_rows, score_batch, repeats, seed)
    logger.info("speed: scored %d rows, best %.2fs", score_rows, min(score_times))
    result: dict[str, Any] = {
        "train_epoch_seconds": round(median_epoch, 4),
        "train_samples_per_second": round(samples_per_epoch / median_epoch, 1),
        "train_seconds_total": round(sum(epoch_times), 4),
        "score_rows_per_second": round(score_rows / min(score_times), 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "device": str(dev),
        "epoch_seconds_all": [round(t, 4) for t in epoch_times],
        "score_seconds_all": [round(t, 4) for t in score_times],
        "samples_per_epoch": samples_per_epoch,
        "meta": run_meta(
            command,
            benchmark="speed",
            config={
                "rows": rows,
                "features": features,
                "n_perturbators": n_perturbators,
                "batch_size": batch_size,
                "epochs": epochs,
                "score_rows": score_rows,
                "score_batch": score_batch,
                "repeats": repeats,
                "warmup_steps": warmup_steps,
                "seed": seed,
                "score_snapshots": score_snapshots,
                "score_members": score_members,
                "recipe": recipe,
                "bf16": bf16,
            },
            method=(
                "training: dhag.training.train on a DHAGNet built from DHAG's defaults (no validation, "
                f"no early stopping), after {warmup_steps} untimed train_step calls; epoch time = median "
                "of per-epoch wall times from the on_epoch callback (device synchronised); samples per "
                "second counts the rows an epoch uses (the ragged last batch is dropped). scoring: "
                f"DHAG.score_matrix on float32 batches of {score_batch} rows, best of {repeats} passes, "
                f"with a DHAG of score_members networks, each fitted for 2 x score_snapshots epochs on "
                f"{_SCORER_FIT_ROWS} rows (speed does not depend on the weights). peak_rss_mb: "
                "ru_maxrss of the process, data included"
            ),
            scorer_device=score_device,
        ),
    }
    if dev.type == "cuda":
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
    if json_path is not None:
        write_json(result, json_path)
    return result
