"""What of dhag.cudagraph runs without a GPU: when a training replays a CUDA graph, and the warm-up
steps' outputs. The graph itself is tested on a GPU (tests/test_cuda.py)."""

from __future__ import annotations

import torch

from dhag import DHAG
from dhag.cudagraph import _detached, can_graph
from dhag.losses import LossParts
from dhag.modules import DHAGNet
from dhag.training import train


def test_only_a_cuda_training_without_the_controller_replays_a_graph() -> None:
    on_cpu = torch.zeros(2, 3)
    assert not can_graph(on_cpu, enabled=True, steered=False)
    on_meta = torch.empty(2, 3, device="meta")  # neither CUDA: never graphed, whatever is asked
    assert not can_graph(on_meta, enabled=True, steered=False)
    assert DHAG().training_config().cuda_graph  # asked for by default; used where it can be


def test_a_cpu_training_runs_every_update_eagerly() -> None:
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    cfg = DHAG(max_epochs=2, batch_size=64, device="cpu", progress=False).training_config()
    result = train(DHAGNet(n_features=4), x, cfg, generator=torch.Generator().manual_seed(0))
    assert result.steps == 2 * (300 // 64) and result.graph_replays == 0


def test_warm_up_outputs_leave_their_autograd_graph_behind() -> None:
    weight = torch.ones(3, requires_grad=True)
    loss = (weight * 2).sum()
    parts = LossParts(loss, loss, loss, loss, loss, loss)
    detached = _detached(parts)
    assert isinstance(detached, LossParts) and not any(t.requires_grad for t in detached)
    assert detached.total.item() == 6.0 and not _detached(loss).requires_grad
