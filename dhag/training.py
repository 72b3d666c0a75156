"""The training loop: one update function, epochs over a device-resident table, early stopping."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from dhag.controller import NormWeightController
from dhag.cudagraph import GraphedSteps, can_graph, capturable_optimizers
from dhag.heldoutloss import evaluate_loss
from dhag.infotext import counted
from dhag.losses import LossParts, constant_ce, k_for_batch, shifted_rows, total_loss
from dhag.modules import DHAGNet
from dhag.scoringroom import past_budget
from dhag.snapshots import averaging_start, keep_snapshot, planned_epochs, snapshot_schedule

__all__ = [
    "TrainConfig",
    "TrainResult",
    "averaging_start",
    "make_optimizers",
    "planned_epochs",
    "train",
    "train_step",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything the loop needs; built by the estimator from its settings."""

    batch_size: int
    k: float
    lambda_norm: float
    lambda_div: float
    ce_target: float | None
    perturbator_game: str
    ce_weighting: str
    lr: float
    discriminator_lr: float
    discriminator_decay_epoch: int
    discriminator_decay: float
    known_weight: float
    shift_weight: float
    shift_range: tuple[float, float]
    shift_mode: str
    max_epochs: int
    max_steps: int | None
    time_budget: float | None
    early_stopping: bool
    average_weights: bool
    patience: int
    min_delta: float
    bf16: bool
    progress: bool
    snapshots: int = 1
    # The scoring one more kept network adds after training: each snapshot kept takes it from time_budget.
    snapshot_seconds: float = 0.0
    # On CUDA, replay each update from a CUDA graph after a few eager ones (dhag.cudagraph); a training
    # whose lambda1 a controller steers (ce_target) always runs eagerly.
    cuda_graph: bool = True


@dataclass
class TrainResult:
    """What training produced: the epoch kept, the history of losses, and the time it took."""

    best_epoch: int
    epochs_run: int
    stopped_by: str
    seconds: float
    steps: int = 0
    epoch_steps: int = 0  # the updates of one full epoch (the ragged last batch left out)
    averaged_epochs: int = 0
    graph_replays: int = 0  # updates replayed from a CUDA graph (0: every update ran eagerly)
    history: list[dict[str, float]] = field(default_factory=list)
    # With cfg.snapshots > 1: the end-of-epoch weights kept for the snapshot ensemble, and their epochs.
    snapshot_epochs: list[int] = field(default_factory=list)
    snapshot_states: list[dict[str, torch.Tensor]] = field(default_factory=list)


def make_optimizers(
    net: DHAGNet, cfg: TrainConfig, *, capturable: bool = False
) -> tuple[torch.optim.Optimizer, ...]:
    """Adam (amsgrad): one optimiser for encoder + perturbators, one slower one for the discriminator;
    ``capturable`` ones, for a CUDA graph, keep their state and learning rates on the device."""
    groups = [
        (list(net.encoder.parameters()) + list(net.perturbators.parameters()), cfg.lr),
        (list(net.discriminator.parameters()), cfg.discriminator_lr),
    ]
    if capturable:
        return capturable_optimizers(groups, next(net.parameters()).device)
    return tuple(torch.optim.Adam(params, lr=lr, amsgrad=True) for params, lr in groups)


def train_step(
    net: DHAGNet,
    optimizers: tuple[torch.optim.Optimizer, ...],
    x: torch.Tensor,
    cfg: TrainConfig,
    x_known: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    lambda_norm: float | torch.Tensor | None = None,
    shift_columns: torch.Tensor | None = None,
    shift_bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> LossParts:
    """One update of all three components on a mini-batch (Algorithm 1: all minimise L_total; with
    ``cfg.perturbator_game == "adversarial"`` the perturbators ascend ``L_ce`` instead).

    ``lambda_norm`` overrides ``cfg.lambda_norm`` (the controlled value, see :class:`NormWeightController`).
    With ``shift_columns`` (indices of z-scored columns) and ``cfg.shift_weight > 0``, copies of the
    batch with one of those columns shifted (:func:`dhag.losses.shifted_rows`) join as anomalies:
    beyond ``shift_bounds`` (each column's training minimum and maximum) when given, else by an offset.
    """
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    x_shifted = None
    if shift_columns is not None and shift_columns.numel() > 0 and cfg.shift_weight > 0:
        x_shifted = shifted_rows(x, shift_columns, cfg.shift_range, generator, bounds=shift_bounds)
    # No cast cache: a CUDA graph must not capture a cast made once and reused (dhag.cudagraph).
    with torch.autocast(
        device_type=x.device.type, dtype=torch.bfloat16, enabled=cfg.bf16, cache_enabled=False
    ):
        parts = total_loss(
            net,
            x,
            k=k_for_batch(cfg.k, x.shape[0]),
            lambda_norm=cfg.lambda_norm if lambda_norm is None else lambda_norm,
            lambda_div=cfg.lambda_div,
            x_known=x_known,
            known_weight=cfg.known_weight,
            generator=generator,
            x_shifted=x_shifted,
            shift_weight=cfg.shift_weight,
            adversarial=cfg.perturbator_game == "adversarial",
            ce_weighting=cfg.ce_weighting,
        )
    with torch.autocast(device_type=x.device.type, enabled=False):  # a caller's autocast would cast it
        parts.total.backward()
    for opt in optimizers:
        opt.step()
    return parts


def _improves(monitored: float, best: float, min_delta: float, *, first: bool) -> bool:
    """Whether an epoch's ``monitored`` loss beats the ``best`` so far by ``min_delta`` of it: a NaN or
    infinite loss (a blown-up epoch) never does, and any finite one beats such a best."""
    if first:
        return True
    if not math.isfinite(monitored):
        return False
    return not math.isfinite(best) or monitored < best - min_delta * abs(best)


def _progress_bar(cfg: TrainConfig):
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=cfg.max_epochs, desc="DHAG", unit="epoch", leave=False)


def train(
    net: DHAGNet,
    x_train: torch.Tensor,
    cfg: TrainConfig,
    *,
    x_val: torch.Tensor | None = None,
    x_known: torch.Tensor | None = None,
    shift_columns: torch.Tensor | None = None,
    generator: torch.Generator,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``net`` in place; keep the weights of the best epoch by held-out loss when available.

    ``x_train`` (n, d), ``x_val`` (n_val, d) and ``x_known`` (n_s, d) already sit on the training
    device; mini-batches are index views into them, never host copies. ``shift_columns`` lists the
    z-scored columns that :func:`dhag.losses.shifted_rows` may move (``cfg.shift_weight`` > 0), beyond
    their range in ``x_train`` when ``cfg.shift_mode`` is ``"beyond"``; with
    ``cfg.ce_target`` set, a :class:`NormWeightController` steers lambda1 after every update and each
    epoch's record holds the value it ended at. The weights kept are chosen only from
    training-side signals: with ``average_weights``, the mean of the end-of-epoch weights after
    :func:`averaging_start` (the second half of the planned epochs; the last weights when training
    stopped before it); without, the last epoch within ``max_epochs`` / ``max_steps`` /
    ``time_budget``; with ``early_stopping``, the epoch with the lowest objective on held-out *normal*
    training rows. ``time_budget`` is checked after every update and after every epoch's updates; the
    epoch it ends has no held-out loss (``val_loss``) unless early stopping needs it. Averaging never
    changes the training trajectory, only the weights kept.
    """
    steered = cfg.ce_target is not None and cfg.lambda_norm > 0
    graphed = can_graph(x_train, cfg.cuda_graph, steered)
    optimizers = make_optimizers(net, cfg, capturable=graphed)
    disc_schedule = torch.optim.lr_scheduler.StepLR(
        optimizers[1], step_size=max(cfg.discriminator_decay_epoch, 1), gamma=cfg.discriminator_decay
    )
    n = x_train.shape[0]
    batch = min(cfg.batch_size, n)
    # Drop the ragged last batch: pseudo-labels are ranks within a batch, and a tiny batch makes
    # them meaningless. Every row still appears, as the order is reshuffled each epoch.
    n_batches = max(n // batch, 1)
    learned_nothing_ce = constant_ce(1 - k_for_batch(cfg.k, batch) / batch, cfg.ce_weighting)
    controller = None
    if steered:
        controller = NormWeightController(
            cfg.lambda_norm, target=cfg.ce_target, constant=learned_nothing_ce, device=x_train.device
        )
    shift_bounds = None
    if cfg.shift_mode == "beyond" and cfg.shift_weight > 0:
        shift_bounds = (x_train.amin(dim=0), x_train.amax(dim=0))
    result = TrainResult(
        best_epoch=0, epochs_run=0, stopped_by="max_epochs", seconds=0.0, epoch_steps=n_batches
    )
    best_score, best_state, stale = math.inf, None, 0
    averaged = None
    if cfg.average_weights and not cfg.early_stopping:
        average_after = averaging_start(cfg, n_batches)
        averaged = torch.optim.swa_utils.AveragedModel(net)
    keep_at = snapshot_schedule(cfg, n_batches) if cfg.snapshots > 1 and not cfg.early_stopping else ()
    stepper = None
    if graphed:

        def eager_step(xb: torch.Tensor, kb: torch.Tensor | None, gen: torch.Generator | None) -> LossParts:
            return train_step(
                net, optimizers, xb, cfg, kb, gen, shift_columns=shift_columns, shift_bounds=shift_bounds
            )

        stepper = GraphedSteps(eager_step, optimizers, generator, x_train.device)
    start = time.perf_counter()
    bar = _progress_bar(cfg)
    try:
        for epoch in range(1, cfg.max_epochs + 1):
            net.train()
            order = torch.randperm(n, device=x_train.device, generator=generator)
            sums = torch.zeros(5, dtype=torch.float32, device=x_train.device)
            out_of_time = False
            for b in range(n_batches):
                xb = x_train[order[b * batch : (b + 1) * batch]]
                kb = None
                if x_known is not None and x_known.shape[0] > 0:
                    if x_known.shape[0] <= batch:
                        kb = x_known
                    else:
                        pick = torch.randint(
                            x_known.shape[0], (batch,), device=x_known.device, generator=generator
                        )
                        kb = x_known[pick]
                lam = None if controller is None else controller.value
                if stepper is not None:
                    parts = stepper(xb, kb)
                else:
                    parts = train_step(
                        net,
                        optimizers,
                        xb,
                        cfg,
                        kb,
                        generator,
                        lambda_norm=lam,
                        shift_columns=shift_columns,
                        shift_bounds=shift_bounds,
                    )
                if controller is not None:
                    controller.update(parts.ce)
                sums += torch.stack([p.detach().float() for p in (*parts[:4], parts.shifted)])
                result.steps += 1
                if cfg.max_steps is not None and result.steps >= cfg.max_steps:
                    n_done = b + 1
                    break
                if past_budget(cfg, time.perf_counter() - start, result):
                    n_done = b + 1  # within the epoch: one epoch of a large table can outlast the budget
                    out_of_time = True
                    break
            else:
                n_done = n_batches
                out_of_time = past_budget(
                    cfg, time.perf_counter() - start, result, snapshot_due=epoch in keep_at
                )
            disc_schedule.step()
            if stepper is not None:
                stepper.learning_rates_changed()
            means = (sums / n_done).tolist()
            record = {"epoch": float(epoch), "loss": means[0], "ce": means[1], "norm": means[2]}
            record["div"] = means[3]
            record["shifted"] = means[4]
            record["ce_ratio"] = means[1] / learned_nothing_ce
            lam_now = cfg.lambda_norm if controller is None else float(controller.value)
            record["lambda_norm"] = lam_now
            net.eval()
            # Past the budget, the held-out loss (a pass over the held-out rows) is computed only for
            # early stopping, which picks the epoch kept by it; otherwise only the record would show it.
            if x_val is not None and x_val.shape[0] >= 2 and (cfg.early_stopping or not out_of_time):
                val = evaluate_loss(net, x_val, cfg, lambda_norm=lam_now)
                record["val_loss"] = val["total"]
                monitored = val["total"]
            else:
                monitored = means[0]
            result.history.append(record)
            result.epochs_run = epoch
            if averaged is not None and epoch > average_after:
                averaged.update_parameters(net)
                result.averaged_epochs += 1
            if epoch in keep_at:
                keep_snapshot(result, net, epoch)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch"})
                bar.update(1)
            if on_epoch is not None:
                on_epoch(record)
            if _improves(monitored, best_score, cfg.min_delta, first=result.best_epoch == 0):
                best_score, stale = monitored, 0
                result.best_epoch = epoch
                if cfg.early_stopping:
                    best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
            if cfg.early_stopping and stale >= cfg.patience:
                result.stopped_by = "early_stopping"
                break
            if cfg.max_steps is not None and result.steps >= cfg.max_steps:
                result.stopped_by = "max_steps"
                break
            if out_of_time:
                result.stopped_by = "time_budget"
                break
    finally:
        if bar is not None:
            bar.close()
        if stepper is not None:
            result.graph_replays = stepper.replays
            stepper.close()
    if cfg.early_stopping and best_state is not None:
        net.load_state_dict(best_state)
    else:
        if averaged is not None and result.averaged_epochs > 0:
            net.load_state_dict(averaged.module.state_dict())
        if keep_at and result.snapshot_epochs[-1:] != [result.epochs_run]:
            keep_snapshot(result, net, result.epochs_run)  # stopped before the planned end
        result.best_epoch = result.epochs_run
    result.seconds = time.perf_counter() - start
    logger.info(
        "trained %s in %.1fs (kept epoch %d%s, stopped by %s%s)",
        counted(result.epochs_run, "epoch"),
        result.seconds,
        result.best_epoch,
        f", weights averaged over the last {result.averaged_epochs}" if result.averaged_epochs else "",
        result.stopped_by,
        f"; {result.graph_replays} of {result.steps} updates replayed from a CUDA graph" if graphed else "",
    )
    return result
