"""The training objective on held-out normal rows, with fixed noise, so that epochs compare: what
early stopping watches and each epoch's ``val_loss`` records (:func:`dhag.training.train`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from dhag.losses import k_for_batch, total_loss
from dhag.modules import DHAGNet

if TYPE_CHECKING:
    from dhag.training import TrainConfig

__all__ = ["evaluate_loss"]


@torch.no_grad()
def evaluate_loss(
    net: DHAGNet,
    x: torch.Tensor,
    cfg: TrainConfig,
    *,
    seed: int = 0,
    lambda_norm: float | None = None,
) -> dict[str, float]:
    """The objective on held-out normal rows, with fixed noise so epochs are comparable.

    ``lambda_norm`` overrides ``cfg.lambda_norm`` (pass the controlled value of the epoch).
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    n_pert = net.perturbators.n_perturbators
    keys = ("total", "ce", "norm", "div")
    # Summed on the device and read once: a float() per batch would be a host sync per batch on a GPU.
    sums = torch.zeros(len(keys), dtype=torch.float64, device=x.device)
    n_batches = 0
    for start in range(0, x.shape[0], cfg.batch_size):
        xb = x[start : start + cfg.batch_size]
        if xb.shape[0] < 2:
            continue
        noise = torch.rand(n_pert, xb.shape[0], 1, generator=gen, device=x.device, dtype=x.dtype)
        with torch.autocast(x.device.type, enabled=False):  # float32, in a caller's autocast too
            parts = total_loss(
                net,
                xb,
                k=k_for_batch(cfg.k, xb.shape[0]),
                lambda_norm=cfg.lambda_norm if lambda_norm is None else lambda_norm,
                lambda_div=cfg.lambda_div,
                noise=noise,
                ce_weighting=cfg.ce_weighting,
            )
        sums += torch.stack([getattr(parts, key).detach().double() for key in keys])
        n_batches += 1
    return {key: value / max(n_batches, 1) for key, value in zip(keys, sums.tolist(), strict=True)}
