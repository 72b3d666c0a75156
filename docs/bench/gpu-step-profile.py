"""Where one DHAG training step's time goes on a GPU, and what three ways of launching it would give.

    PYTHONPATH=. python3 docs/bench/gpu-step-profile.py [--rows 200000] [--features 121] [--batch 512]

Run from the repository's root on a CUDA machine (CPU works too, without the CUDA graph). On synthetic
data of KDD's size and the speed benchmark's settings (L = 5, batch 512) it times one epoch of
``dhag.training.train`` as the library runs it; the same with Adam's fused kernels; and the step
captured once as a CUDA graph and replayed (its optimisers ``capturable``, the discriminator's learning
rate fixed, the noise drawn inside the graph from the device's default generator: a measure of what
launching costs, not a training the library runs). It then profiles 20 steps: the kernels launched per
step and the operators with the most host time. Each part is timed on its own; one that fails prints
its error and the others still run.
"""

from __future__ import annotations

import argparse
import inspect
import time
import traceback

import torch

from dhag import training
from dhag.estimator import DHAG
from dhag.losses import total_loss
from dhag.modules import DHAGNet
from dhag.params import resolve_device
from dhag.training import k_for_batch, train, train_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _net(features: int, device: torch.device, params: dict) -> DHAGNet:
    arch = [name for name in inspect.signature(DHAGNet).parameters if name != "n_features"]
    torch.manual_seed(0)
    return DHAGNet(n_features=features, **{a: params[a] for a in arch}).to(device)


def _epoch_seconds(x: torch.Tensor, params: dict, *, fused: bool) -> float:
    """The second of two epochs of ``train``, with or without fused Adam."""
    cfg = DHAG(**{**params, "max_epochs": 2, "max_steps": None}).training_config()
    net = _net(x.shape[1], x.device, params)
    made = training.make_optimizers

    def fused_optimizers(net: DHAGNet, cfg: training.TrainConfig) -> tuple[torch.optim.Optimizer, ...]:
        main = torch.optim.Adam(
            list(net.encoder.parameters()) + list(net.perturbators.parameters()),
            lr=cfg.lr,
            amsgrad=True,
            fused=True,
        )
        return main, torch.optim.Adam(
            net.discriminator.parameters(), lr=cfg.discriminator_lr, amsgrad=True, fused=True
        )

    stamps: list[float] = []

    def on_epoch(_record: dict) -> None:
        _sync(x.device)
        stamps.append(time.perf_counter())

    training.make_optimizers = fused_optimizers if fused else made
    try:
        gen = torch.Generator(device=x.device).manual_seed(0)
        _sync(x.device)
        train(net, x, cfg, generator=gen, on_epoch=on_epoch)
    finally:
        training.make_optimizers = made
    return stamps[1] - stamps[0]


def _graph_epoch_seconds(x: torch.Tensor, params: dict) -> float:
    """One epoch of the step captured as a CUDA graph and replayed, the batch copied in before each."""
    cfg = DHAG(**{**params, "max_epochs": 1}).training_config()
    batch = cfg.batch_size
    net = _net(x.shape[1], x.device, params)
    main = torch.optim.Adam(
        list(net.encoder.parameters()) + list(net.perturbators.parameters()),
        lr=cfg.lr,
        amsgrad=True,
        capturable=True,
    )
    disc = torch.optim.Adam(
        net.discriminator.parameters(), lr=cfg.discriminator_lr, amsgrad=True, capturable=True
    )
    static_x = x[:batch].clone()
    k = k_for_batch(cfg.k, batch)

    def step() -> torch.Tensor:
        parts = total_loss(net, static_x, k=k, lambda_norm=cfg.lambda_norm, lambda_div=cfg.lambda_div)
        parts.total.backward()
        main.step()
        disc.step()
        return parts.total

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            main.zero_grad(set_to_none=True)
            disc.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    main.zero_grad(set_to_none=True)
    disc.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        loss = step()
    n_batches = x.shape[0] // batch
    order = torch.randperm(x.shape[0], device=x.device)
    sums = torch.zeros((), device=x.device)
    _sync(x.device)
    began = time.perf_counter()
    for b in range(n_batches):
        static_x.copy_(x[order[b * batch : (b + 1) * batch]])
        graph.replay()
        sums += loss.detach()
    _sync(x.device)
    seconds = time.perf_counter() - began
    print(f"graph: mean loss over the epoch {float(sums) / n_batches:.4f} (finite: a real training ran)")
    return seconds


def _profile(x: torch.Tensor, params: dict, steps: int = 20) -> None:
    cfg = DHAG(**params).training_config()
    net = _net(x.shape[1], x.device, params)
    opts = training.make_optimizers(net, cfg)
    gen = torch.Generator(device=x.device).manual_seed(0)
    batch = cfg.batch_size
    for s in range(5):
        train_step(net, opts, x[s * batch : (s + 1) * batch], cfg, generator=gen)
    _sync(x.device)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if x.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for s in range(steps):
            train_step(net, opts, x[s * batch : (s + 1) * batch], cfg, generator=gen)
        _sync(x.device)
    events = prof.key_averages()
    launches = sum(
        e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC")
    )
    print(f"profile: {launches / steps:.0f} kernel launches per step")
    print(events.table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=121)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    params = DHAG(n_perturbators=5, batch_size=args.batch, device=str(device), random_state=0).get_params()
    params |= {"early_stopping": False, "progress": False, "time_budget": None}
    x = torch.randn(args.rows, args.features, device=device)
    steps = args.rows // args.batch
    print(f"{device}: {args.rows} x {args.features}, batch {args.batch}, {steps} steps per epoch")
    parts = [("eager, as the library trains", lambda: _epoch_seconds(x, params, fused=False))]
    if device.type == "cuda":
        parts += [
            ("eager, fused Adam", lambda: _epoch_seconds(x, params, fused=True)),
            ("CUDA graph of the whole step", lambda: _graph_epoch_seconds(x, params)),
        ]
    for name, timed in parts:
        try:
            seconds = timed()
            print(
                f"{name}: {seconds:.3f} s per epoch, {1000 * seconds / steps:.2f} ms per step, "
                f"50 epochs {50 * seconds:.1f} s"
            )
        except Exception:  # noqa: BLE001 - a measurement script: one part failing must not hide the rest
            print(f"{name}: FAILED")
            traceback.print_exc()
    try:
        _profile(x, params)
    except Exception:  # noqa: BLE001
        print("profile: FAILED")
        traceback.print_exc()


if __name__ == "__main__":
    main()
