"""The three networks of DHAG: encoder, perturbators and discriminator.

Each module maps tensors to tensors; the estimator in :mod:`dhag.estimator` owns them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import nn

__all__ = ["RECIPES", "DHAGNet", "Discriminator", "Encoder", "Perturbators", "net_for_weights"]

# How the networks and the regularisers are built (DHAG(recipe=...)): "paper", this library's reading of
# the paper and its default, or "reference", as the method's reference implementation builds them.
RECIPES = ("paper", "reference")

Net = TypeVar("Net", bound=nn.Module)

# The networks hold and compute in float32 whatever torch's default dtype the caller set (a notebook's
# torch.set_default_dtype(torch.float64)): their inputs are float32, and a seed trains one model. They
# are built on torch's default device: the estimator and the loader build them within torch.device("cpu")
# (a caller's default device is not theirs), the loader's shape check on the meta device.
DTYPE = torch.float32

# The rows the network scores at a time, on a CPU or on a GPU. Every pass has exactly this many (the
# last padded with zero rows): a matrix product's result for a row depends on how many rows it is
# computed with (the BLAS picks its kernel by the shape), by up to 4e-8 in a score, so with one shape a
# row scores the same to the last bit in any batch, and the training row that set the threshold is
# flagged alike however it is batched. Measured on a CPU with one torch thread: 200k rows of 121 features
# took 10 % less CPU time than in passes of 65536 rows; a call of 500 rows 17 % more, of one row 0.7 ms
# more (docs/benchmarks.md, section 3.2).
SCORING_ROWS = {"cpu": 1024, "cuda": 65536}


class Encoder(nn.Module):
    """MLP ``f_theta``: x (n, d) -> z (n, latent_dim); ReLU between layers, and after the last one too
    with ``relu_out=True`` (the reference implementation's encoder, whose latents are never negative).

    Example
    -------
    >>> import torch
    >>> Encoder(n_features=6, latent_dim=64, n_layers=4)(torch.zeros(3, 6)).shape
    torch.Size([3, 64])
    """

    def __init__(
        self, *, n_features: int, latent_dim: int = 64, n_layers: int = 4, relu_out: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in = n_features
        for i in range(n_layers):
            layers.append(nn.Linear(width_in, latent_dim, dtype=DTYPE))
            if i < n_layers - 1 or relu_out:
                layers.append(nn.ReLU())
            width_in = latent_dim
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Perturbators(nn.Module):
    """``L`` stochastic perturbators ``g_psi_l``: [x, u] -> epsilon_l in latent space.

    Each perturbator is a two-layer MLP (the paper's kernel-size-1 1D-CNN over one position) on the
    input with one extra noise channel ``u ~ U(0, 1)``, drawn independently per perturbator and
    sample. The ``L`` networks are held as stacked weights and run as one batched matmul, which is
    several times faster than a Python loop over perturbators. ``first_bias=False`` leaves the bias out
    of the first layer, as the reference implementation does.

    Example
    -------
    >>> import torch
    >>> g = Perturbators(n_features=6, n_perturbators=5, latent_dim=64, hidden_dim=64)
    >>> g(torch.zeros(3, 6)).shape  # (L, n, latent_dim)
    torch.Size([5, 3, 64])
    """

    def __init__(
        self,
        *,
        n_features: int,
        n_perturbators: int = 5,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        first_bias: bool = True,
    ) -> None:
        super().__init__()
        if n_perturbators < 1:
            raise ValueError(f"n_perturbators must be >= 1. Got {n_perturbators} instead.")
        n_in = n_features + 1
        self.n_perturbators = n_perturbators
        self.w1 = nn.Parameter(torch.empty(n_perturbators, n_in, hidden_dim, dtype=DTYPE))
        # Without a first bias there is no such parameter: the weights file says which layout it holds.
        self.b1 = (
            nn.Parameter(torch.empty(n_perturbators, 1, hidden_dim, dtype=DTYPE)) if first_bias else None
        )
        self.w2 = nn.Parameter(torch.empty(n_perturbators, hidden_dim, latent_dim, dtype=DTYPE))
        self.b2 = nn.Parameter(torch.empty(n_perturbators, 1, latent_dim, dtype=DTYPE))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The same init nn.Linear uses, applied to each of the L stacked layers.
        for w, b in ((self.w1, self.b1), (self.w2, self.b2)):
            fan_in = w.shape[1]
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(w, -bound, bound)
            if b is not None:
                nn.init.uniform_(b, -bound, bound)

    def forward(
        self,
        x: torch.Tensor,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        # x: (n, d); noise: (L, n, 1), or None to draw U(0, 1) from ``generator``.
        n_pert = self.n_perturbators
        if noise is None:
            noise = torch.rand(n_pert, x.shape[0], 1, device=x.device, dtype=x.dtype, generator=generator)
        xu = torch.cat([x.unsqueeze(0).expand(n_pert, -1, -1), noise], dim=2)  # (L, n, d+1)
        h = torch.bmm(xu, self.w1) if self.b1 is None else torch.baddbmm(self.b1, xu, self.w1)
        h = torch.relu(h)  # (L, n, hidden)
        return torch.baddbmm(self.b2, h, self.w2)  # (L, n, latent)


class Discriminator(nn.Module):
    """``f_phi``: z (..., latent_dim) -> logit of "anomaly" (...,).

    Two bias-free linear layers without an activation between them, as in the method's reference
    implementation.

    Example
    -------
    >>> import torch
    >>> Discriminator(latent_dim=64, hidden_dim=32)(torch.zeros(5, 3, 64)).shape
    torch.Size([5, 3])
    """

    def __init__(self, *, latent_dim: int = 64, hidden_dim: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim, bias=False, dtype=DTYPE),
            nn.Linear(hidden_dim, 1, bias=False, dtype=DTYPE),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


class DHAGNet(nn.Module):
    """The three DHAG networks together; ``forward`` is the score logit ``f_phi(f_theta(x))``.

    ``recipe="reference"`` builds them as the method's reference implementation does: a ReLU after the
    encoder's last layer and no bias in the perturbators' first layer (:data:`RECIPES`).

    Example
    -------
    >>> import torch
    >>> net = DHAGNet(n_features=4)
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        *,
        n_features: int,
        latent_dim: int = 64,
        encoder_layers: int = 4,
        n_perturbators: int = 5,
        perturbator_hidden: int = 64,
        discriminator_hidden: int = 32,
        recipe: str = "paper",
    ) -> None:
        super().__init__()
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {', '.join(RECIPES)}. Got {recipe!r} instead.")
        self.recipe = recipe
        reference = recipe == "reference"
        self.encoder = Encoder(
            n_features=n_features, latent_dim=latent_dim, n_layers=encoder_layers, relu_out=reference
        )
        self.perturbators = Perturbators(
            n_features=n_features,
            n_perturbators=n_perturbators,
            latent_dim=latent_dim,
            hidden_dim=perturbator_hidden,
            first_bias=not reference,
        )
        self.discriminator = Discriminator(latent_dim=latent_dim, hidden_dim=discriminator_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(self.encoder(x))

    @torch.inference_mode()
    def anomaly_scores(self, matrix: np.ndarray, *, chunk: int | None = None) -> np.ndarray:
        """``sigmoid(forward(x))`` per row of a preprocessed float32 matrix, as float64, in passes of
        ``chunk`` rows on the network's device (:data:`SCORING_ROWS` for its kind when None).

        Example
        -------
        >>> import numpy as np
        >>> scores = DHAGNet(n_features=4).anomaly_scores(np.zeros((3, 4), dtype=np.float32), chunk=2)
        >>> scores.shape, scores.dtype, bool(((scores > 0) & (scores < 1)).all())
        ((3,), dtype('float64'), True)
        """
        return self.scores_and_logits(matrix, chunk=chunk)[0]

    @torch.inference_mode()
    def scores_and_logits(
        self, matrix: np.ndarray, *, chunk: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The anomaly scores and the logits they are the sigmoid of (``forward(x)``), both float64, from
        one pass of the network over a preprocessed float32 matrix, in passes of ``chunk`` rows each
        (:data:`SCORING_ROWS` for the device's kind when None; the last padded), so that a row's score
        is the same in any batch.

        A score saturates where the logit does not: past a logit of about 37 the float64 sigmoid is
        exactly 1.0, and below about -745 exactly 0.0, while the logit still tells rows apart. A row on
        which the network overflows float32 has a NaN logit and score; a logit of +-inf scores 1.0 or
        0.0.

        Example
        -------
        >>> import numpy as np
        >>> net = DHAGNet(n_features=2)
        >>> scores, logits = net.scores_and_logits(np.array([[0.0, 0.0], [1.0, -2.0]], dtype=np.float32))
        >>> bool(np.allclose(scores, 1 / (1 + np.exp(-logits)))), logits.dtype
        (True, dtype('float64'))
        """
        device = next(self.parameters()).device
        chunk = SCORING_ROWS.get(device.type, SCORING_ROWS["cpu"]) if chunk is None else chunk
        scores = np.empty(matrix.shape[0], dtype=np.float64)
        logits = np.empty(matrix.shape[0], dtype=np.float64)
        for start in range(0, matrix.shape[0], chunk):
            # Shared with torch where it can be: copied when read-only or laid out backwards.
            rows = torch.as_tensor(
                np.require(matrix[start : start + chunk], requirements="CW"), device=device
            )
            given = rows.shape[0]
            if given < chunk:  # the same shape as every other pass (SCORING_ROWS)
                rows = torch.cat([rows, rows.new_zeros(chunk - given, rows.shape[1])])
            with torch.autocast(device.type, enabled=False):  # float32's scores in a caller's autocast too
                logit = self(rows).double()
            # The sigmoid of the whole pass too: a vector's last few elements may take another path.
            scores[start : start + chunk] = torch.sigmoid(logit)[:given].cpu().numpy()
            logits[start : start + chunk] = logit[:given].cpu().numpy()
        return scores, logits


def net_for_weights(make_net: Callable[[], Net]) -> Net:
    """``make_net()`` for weights about to be loaded into it, built without drawing from the process-wide
    torch random stream: its random initial weights are thrown away, and a caller's own draws after a
    load or a fit must not depend on them.

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> before = torch.rand(1)
    >>> _ = torch.manual_seed(0)
    >>> _ = net_for_weights(lambda: DHAGNet(n_features=3))
    >>> bool(torch.equal(torch.rand(1), before))
    True
    """
    with torch.random.fork_rng(devices=[]):  # networks are built on the CPU: only its generator
        return make_net()
