"""The ``L_ce`` controller: lambda1 steered after every update so that ``L_ce`` stays at a set share of a
constant predictor's (``DHAG(ce_target=...)``, :mod:`dhag.retry`)."""

from __future__ import annotations

import torch

__all__ = ["NormWeightController"]


class NormWeightController:
    """Steers lambda1 (the weight of ``L_norm``) so that ``L_ce`` stays at a set share of a constant
    predictor's: synthetic anomalies that are hard to tell apart, but not impossible.

    After every update the weight is multiplied by ``exp(gain * (target - L_ce / constant_ce))``: when
    the discriminator separates the perturbations better than the target (ratio below it), lambda1 grows
    and the perturbations shrink, which makes the task harder; when it separates them worse (ratio
    above it, up to the collapse at 1), lambda1 falls and the perturbations may grow. The weight stays
    within ``[initial / span, initial * span]``. It is a tensor on the training device, so steering it
    never waits for the device.

    Example
    -------
    >>> import torch
    >>> ctl = NormWeightController(1.0, target=0.5, constant=1.2, device=torch.device("cpu"))
    >>> _ = ctl.update(torch.tensor(1.2))  # L_ce at the constant predictor's: too hard
    >>> float(ctl.value) < 1.0
    True
    """

    def __init__(
        self,
        initial: float,
        *,
        target: float,
        constant: float,
        device: torch.device,
        gain: float = 0.05,
        span: float = 1000.0,
    ) -> None:
        if not 0 < target < 1:
            raise ValueError(f"target must be in (0, 1). Got {target} instead.")
        if constant <= 0 or gain <= 0 or span < 1:
            raise ValueError(f"Need constant > 0, gain > 0, span >= 1. Got {constant}, {gain}, {span}.")
        self.target = float(target)
        self.constant = float(constant)
        self.gain = float(gain)
        self.low, self.high = initial / span, initial * span
        self.value = torch.tensor(float(initial), dtype=torch.float32, device=device)  # as the losses are

    def update(self, ce: torch.Tensor) -> torch.Tensor:
        """Adjust the weight after an update whose mini-batch ``L_ce`` was ``ce``; return the new weight."""
        ratio = ce.detach().float() / self.constant
        self.value = (self.value * torch.exp(self.gain * (self.target - ratio))).clamp(self.low, self.high)
        return self.value
