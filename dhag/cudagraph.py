"""One training step captured as a CUDA graph and replayed: the loop's launches cost one call per step.

DHAG's networks are small, so on a GPU an eager step is bound by the host: measured on an H200, a step
of batch 512 launched about 150 kernels and took 4.6 ms, of which the GPU worked 0.4 ms
(``docs/bench/gpu-step-profile.py``). Captured once and replayed, the same step took 0.5 ms.

:class:`GraphedSteps` runs the first few steps eagerly on a side stream (the warm-up CUDA graphs
need), then captures :func:`dhag.training.train_step` on fixed input buffers and, for every later
step, copies the batch into them and replays. The optimisers must be ``capturable`` with their learning
rates held in device tensors (:func:`capturable_optimizers`), so that a schedule's change reaches the
graph (:func:`GraphedSteps.learning_rates_changed`). The perturbators' noise inside the graph comes from
a generator of its own, seeded from the training's generator, so a seeded training is reproduced. If
the capture fails, training goes on eagerly and says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["GraphedSteps", "can_graph", "capturable_optimizers"]

logger = logging.getLogger(__name__)

WARMUP_STEPS = 3


def can_graph(x: torch.Tensor, enabled: bool, steered: bool) -> bool:
    """Whether a training on ``x`` replays a CUDA graph: on CUDA, when asked, and without the
    controller that steers lambda1 from each step's loss (``steered``), which the graph cannot see."""
    return enabled and x.device.type == "cuda" and not steered


def capturable_optimizers(
    groups: list[tuple[list[torch.nn.Parameter], float]], device: torch.device
) -> tuple[torch.optim.Optimizer, ...]:
    """Adam (amsgrad) per ``(parameters, learning rate)``, capturable, each rate a device tensor."""
    return tuple(
        torch.optim.Adam(
            params, lr=torch.tensor(lr, dtype=torch.float32, device=device), amsgrad=True, capturable=True
        )
        for params, lr in groups
    )


def _detached(out: Any) -> Any:
    """A step's output, a tensor or a tuple of them (``LossParts``), cut from its autograd graph."""
    if isinstance(out, torch.Tensor):
        return out.detach()
    return type(out)(*(t.detach() for t in out))


class GraphedSteps:
    """Call it as ``step(xb, kb)`` in place of ``step_fn(xb, kb, generator)`` for every update.

    ``step_fn(xb, kb, generator)`` is one eager update on batch ``xb`` (known anomalies ``kb`` or None)
    drawing its noise from ``generator``; it returns a tuple of scalar tensors. The values returned by a
    replay are the graph's output buffers, overwritten by the next replay: read them (on the stream)
    before the next call.
    """

    def __init__(
        self,
        step_fn: Callable[[torch.Tensor, torch.Tensor | None, torch.Generator | None], Any],
        optimizers: tuple[torch.optim.Optimizer, ...],
        generator: torch.Generator | None,
        device: torch.device,
    ) -> None:
        self._step_fn = step_fn
        self._optimizers = optimizers
        self._generator = generator
        self._device = device
        self._taken = 0
        self._graph: Any = None
        self._inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._outputs: Any = None
        self._graph_generator: torch.Generator | None = None
        self._side: Any = None
        self.replays = 0
        self.failed: str | None = None
        # The tensors the graph reads each rate from, one per parameter group.
        self._rates = [group["lr"] for opt in optimizers for group in opt.param_groups]

    def __call__(self, xb: torch.Tensor, kb: torch.Tensor | None) -> Any:
        if self.failed is not None:
            return self._step_fn(xb, kb, self._generator)
        if self._taken < WARMUP_STEPS:
            self._taken += 1
            # One side stream for every warm-up step, and outputs detached: a loss kept alive past
            # its step would keep the parameters' gradient nodes of the stream it ran on, and the next
            # backward on another stream would warn that the capture may break.
            if self._side is None:
                self._side = torch.cuda.Stream(self._device)
            self._side.wait_stream(torch.cuda.current_stream(self._device))
            with torch.cuda.stream(self._side):
                out = _detached(self._step_fn(xb, kb, self._generator))
            torch.cuda.current_stream(self._device).wait_stream(self._side)
            return out
        if self._graph is None and not self._capture(xb, kb):
            return self._step_fn(xb, kb, self._generator)
        assert self._inputs is not None
        static_x, static_k = self._inputs
        static_x.copy_(xb)
        if static_k is not None:  # a clone of the first batch's: kb is never None when it is set
            static_k.copy_(kb)
        self._graph.replay()
        self.replays += 1
        return self._outputs

    def _capture(self, xb: torch.Tensor, kb: torch.Tensor | None) -> bool:
        if self._generator is not None:
            seed = int(torch.randint(2**62, (1,), device=self._device, generator=self._generator).item())
            self._graph_generator = torch.Generator(device=self._device).manual_seed(seed)
        static_x = xb.clone()
        static_k = None if kb is None else kb.clone()
        graph = torch.cuda.CUDAGraph()
        try:
            if self._graph_generator is not None:
                graph.register_generator_state(self._graph_generator)
            for opt in self._optimizers:
                opt.zero_grad(set_to_none=True)
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                outputs = self._step_fn(static_x, static_k, self._graph_generator)
        except Exception as exc:  # noqa: BLE001 - any capture fault: train on, eagerly
            self.failed = f"{type(exc).__name__}: {exc}".splitlines()[0]
            logger.warning("training on eagerly: the CUDA graph of a training step failed (%s)", self.failed)
            for opt in self._optimizers:
                opt.zero_grad(set_to_none=True)
            return False
        self._graph, self._inputs, self._outputs = graph, (static_x, static_k), outputs
        return True

    def learning_rates_changed(self) -> None:
        """After a learning-rate schedule stepped: put each group's rate back into the tensor the
        graph reads (a schedule may have replaced the tensor instead of filling it)."""
        groups = [group for opt in self._optimizers for group in opt.param_groups]
        for group, rate in zip(groups, self._rates, strict=True):
            value = float(group["lr"])
            if group["lr"] is not rate:
                group["lr"] = rate
            rate.fill_(value)

    def close(self) -> None:
        """Release the graph and its memory; the parameters keep their values."""
        self._graph, self._inputs, self._outputs = None, None, None
        for opt in self._optimizers:
            opt.zero_grad(set_to_none=True)
