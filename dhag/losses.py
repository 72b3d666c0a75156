"""The DHAG training objective, one small function per term (paper section 4, Algorithm 1).

Shapes: ``m`` samples in a mini-batch, ``L`` perturbators, ``D`` latent size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

# How L_ce weighs its terms (DHAG(ce_weighting=...)): "rows", the paper's equation (2), or "classes",
# the reference implementation's mean per class (see ce_loss).
CE_WEIGHTINGS = ("rows", "classes")

__all__ = [
    "CE_WEIGHTINGS",
    "LossParts",
    "ce_loss",
    "constant_ce",
    "discriminate",
    "diversity_loss",
    "k_for_batch",
    "known_anomaly_loss",
    "norm_loss",
    "pseudo_labels",
    "reverse_gradient",
    "shifted_rows",
    "total_loss",
]


def pseudo_labels(eps: torch.Tensor, k: int) -> torch.Tensor:
    """Label each perturbation 0 (augmented normal) or 1 (synthetic anomaly), per perturbator.

    For every perturbator the ``k`` perturbations with the smallest L2 norm in the mini-batch get
    label 0 and the rest label 1 (paper eq. 1). ``eps``: (L, m, D) -> labels (L, m), float.

    Example
    -------
    >>> import torch
    >>> eps = torch.tensor([[[3.0], [1.0], [2.0]]])  # L=1, m=3, D=1
    >>> pseudo_labels(eps, k=1)
    tensor([[1., 0., 1.]])
    """
    n_pert, m, _ = eps.shape
    if not 0 <= k <= m:
        raise ValueError(f"k must be in [0, {m}] for a mini-batch of {m}. Got {k} instead.")
    norms = eps.detach().norm(dim=2)  # (L, m)
    labels = torch.ones(n_pert, m, device=eps.device, dtype=eps.dtype)
    if k > 0:
        smallest = norms.topk(k, dim=1, largest=False).indices
        labels.scatter_(1, smallest, 0.0)
    return labels


def ce_loss(
    logit_clean: torch.Tensor,
    logit_perturbed: torch.Tensor,
    labels: torch.Tensor,
    *,
    weighting: str = "rows",
) -> torch.Tensor:
    """``L_ce``: clean latents are normal (0); perturbed latents take their pseudo-labels.

    ``logit_clean``: (m,); ``logit_perturbed`` and ``labels``: (L, m). Returns a scalar.

    ``weighting="rows"`` is the paper's equation (2): the mean over samples of CE(clean, 0) plus the
    mean over perturbators of CE(perturbed, label), so the clean rows weigh 1 and the perturbations 1 in
    all. ``weighting="classes"`` is how the method's reference implementation weighs it: the mean CE of
    every latent that should read normal (the clean ones and the pseudo-normal perturbations) plus the
    mean CE of the synthetic anomalies, so each class weighs 1 whatever ``k`` is.

    Example
    -------
    >>> import torch
    >>> round(ce_loss(torch.zeros(4), torch.zeros(2, 4), torch.ones(2, 4)).item(), 4)  # 2 * ln 2
    1.3863
    >>> labels = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    >>> round(ce_loss(torch.zeros(4), torch.zeros(1, 4), labels, weighting="classes").item(), 4)
    1.3863
    """
    if weighting == "rows":
        clean = F.binary_cross_entropy_with_logits(logit_clean, torch.zeros_like(logit_clean))
        perturbed = F.binary_cross_entropy_with_logits(logit_perturbed, labels)
        return clean + perturbed
    if weighting != "classes":
        raise ValueError(f"weighting must be one of {', '.join(CE_WEIGHTINGS)}. Got {weighting!r} instead.")
    # Weighted sums rather than boolean indexing: the class sizes stay tensors (no host sync on a GPU).
    per_item = F.binary_cross_entropy_with_logits(logit_perturbed, labels, reduction="none")
    n_anomalous = labels.sum()
    n_normal = logit_clean.numel() + labels.numel() - n_anomalous
    normal = F.binary_cross_entropy_with_logits(logit_clean, torch.zeros_like(logit_clean), reduction="sum")
    normal = (normal + (per_item * (1 - labels)).sum()) / n_normal
    anomalous = (per_item * labels).sum() / n_anomalous.clamp_min(1)
    return normal + anomalous


def constant_ce(synthetic_fraction: float, weighting: str = "rows") -> float:
    """``L_ce`` of the best constant predictor, when a share ``q`` of perturbations is labelled 1.

    A discriminator that tells nothing apart predicts one probability ``p`` for clean and perturbed
    latents alike. With ``weighting="rows"`` (:func:`ce_loss`) the loss is
    ``-ln(1 - p) - q ln p - (1 - q) ln(1 - p)``, smallest at ``p = q / 2``; with ``"classes"`` it is
    ``-ln(1 - p) - ln p``, smallest at ``p = 1 / 2``: ``2 ln 2`` whatever ``q`` (both classes non-empty).
    Training whose ``L_ce`` stays at this value has learned nothing (the perturbations shrank to
    nothing and the encoder maps every row to one score): :class:`dhag.DHAG` reports it as collapsed.

    Example
    -------
    >>> round(constant_ce(0.6), 4)
    1.2217
    >>> round(constant_ce(0.6, "classes"), 4)
    1.3863
    """
    import math

    q = min(max(synthetic_fraction, 1e-12), 1 - 1e-12)
    if weighting == "classes":
        return 2 * math.log(2)
    p = q / 2
    return -(2 - q) * math.log(1 - p) - q * math.log(p)


def norm_loss(eps: torch.Tensor, *, recipe: str = "paper") -> torch.Tensor:
    """``L_norm``: the mean L2 norm of the perturbations. ``eps``: (L, m, D) -> scalar.

    ``recipe="reference"`` takes the norm of all of a batch's perturbations at once (the Frobenius
    norm of ``eps``), as the reference implementation does: it grows with the square root of ``L * m``,
    so the same ``lambda_norm`` presses the perturbations far harder.

    Example
    -------
    >>> import torch
    >>> eps = torch.tensor([[[3.0, 4.0]], [[0.0, 1.0]]])
    >>> norm_loss(eps).item(), round(norm_loss(eps, recipe="reference").item(), 4)  # sqrt(26)
    (3.0, 5.099)
    """
    if recipe == "reference":
        return eps.norm()
    return eps.norm(dim=2).mean()


def diversity_loss(eps: torch.Tensor, *, eps_floor: float = 1e-8, recipe: str = "paper") -> torch.Tensor:
    """``L_div``: the mean pairwise cosine similarity between different perturbators on one sample.

    ``eps``: (L, m, D) -> scalar; 0 for a single perturbator. Orthogonal perturbations give 0,
    identical ones give 1. ``recipe="reference"`` sums over the ``L (L - 1) / 2`` pairs instead of
    taking their mean, as the reference implementation does (ten times the weight for L = 5).

    Example
    -------
    >>> import torch
    >>> diversity_loss(torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]])).item()
    0.0
    """
    n_pert = eps.shape[0]
    if n_pert < 2:
        return eps.sum() * 0.0
    unit = eps / eps.norm(dim=2, keepdim=True).clamp_min(eps_floor)
    gram = torch.einsum("lmd,kmd->mlk", unit, unit)  # (m, L, L), diagonal = 1
    off_diagonal = gram.sum(dim=(1, 2)) - gram.diagonal(dim1=1, dim2=2).sum(dim=1)
    # Each pair appears twice in the off-diagonal sum.
    return (off_diagonal / 2 if recipe == "reference" else off_diagonal / (n_pert * (n_pert - 1))).mean()


def known_anomaly_loss(logit_known: torch.Tensor) -> torch.Tensor:
    """The semi-supervised term CE(f_phi(f_theta(x)), 1) over labelled anomalies (paper 4.4).

    Example
    -------
    >>> import torch
    >>> round(known_anomaly_loss(torch.zeros(3)).item(), 4)  # ln 2
    0.6931
    """
    return F.binary_cross_entropy_with_logits(logit_known, torch.ones_like(logit_known))


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient flows back with its sign flipped."""

    @staticmethod
    def forward(ctx: object, t: torch.Tensor) -> torch.Tensor:
        return t.view_as(t)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def reverse_gradient(t: torch.Tensor) -> torch.Tensor:
    """``t`` unchanged, but whatever minimises a loss through it is pushed to maximise that loss.

    The adversarial game of the paper's prose: fed to the discriminator through this, the perturbations
    make the perturbators ascend ``L_ce`` ("trained to fool the discriminator") while the encoder and
    the discriminator, which reach ``L_ce`` by other paths, still descend it.

    Example
    -------
    >>> import torch
    >>> t = torch.ones(2, requires_grad=True)
    >>> (3.0 * reverse_gradient(t)).sum().backward()
    >>> t.grad.tolist()
    [-3.0, -3.0]
    """
    return _ReverseGradient.apply(t)


def shifted_rows(
    x: torch.Tensor,
    columns: torch.Tensor,
    shift_range: tuple[float, float],
    generator: torch.Generator | None = None,
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Copies of the rows ``x`` (m, d) with one of ``columns`` per row moved up or down.

    The column is drawn uniformly from ``columns`` (indices of z-scored columns), the direction with
    equal odds, a distance uniformly from ``shift_range`` (in training standard deviations). With
    ``bounds`` (the training minimum and maximum of every column, two (d,) tensors) the value is put
    that distance *beyond* the column's training range (``shift_mode="beyond"``); without, it is moved
    that distance from where it was (``"offset"``, the estimator's default). Each copy breaks the row's normal
    pattern in one sensor while the others stay as they were: an input-space synthetic anomaly that
    needs no label. Returns a new (m, d) tensor.

    A value moved by an offset can land among normal rows (a row 1 deviation above the mean moved 2
    down), so a copy labelled anomalous may be a normal row; beyond the range none is.

    Example
    -------
    >>> import torch
    >>> x = torch.zeros(3, 4)
    >>> g = torch.Generator().manual_seed(0)
    >>> moved = shifted_rows(x, torch.tensor([2]), (2.0, 4.0), g)
    >>> size = moved[:, 2].abs()
    >>> bool(((size >= 2) & (size <= 4)).all()), float(moved[:, [0, 1, 3]].abs().sum())
    (True, 0.0)
    >>> low, high = torch.full((4,), -1.5), torch.full((4,), 3.0)
    >>> beyond = shifted_rows(x, torch.tensor([2]), (0.0, 2.0), g, bounds=(low, high))[:, 2]
    >>> bool(((beyond >= 3.0) & (beyond <= 5.0) | (beyond <= -1.5) & (beyond >= -3.5)).all())
    True
    """
    low, high = shift_range
    m = x.shape[0]
    device = x.device
    rows = torch.arange(m, device=device)
    pick = columns[torch.randint(columns.shape[0], (m,), device=device, generator=generator)]
    sign = torch.randint(2, (m,), device=device, generator=generator).to(x.dtype) * 2 - 1
    size = low + (high - low) * torch.rand(m, device=device, generator=generator, dtype=x.dtype)
    out = x.clone()
    if bounds is None:
        out[rows, pick] += sign * size
    else:
        lower, upper = (b.to(x.dtype)[pick] for b in bounds)
        out[rows, pick] = torch.where(sign > 0, upper + size, lower - size)
    return out


class LossParts(NamedTuple):
    """The parts of one evaluation of the objective; ``total`` is what is minimised."""

    total: torch.Tensor
    ce: torch.Tensor
    norm: torch.Tensor
    div: torch.Tensor
    known: torch.Tensor
    shifted: torch.Tensor


def discriminate(
    net: torch.nn.Module, z: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's logits of the latent rows ``z`` (m, D) and of their perturbed copies
    ``z + eps`` (eps: (L, m, D)): shapes (m,) and (L, m).

    Always in float32, autocast or not: once ``L_norm`` has shrunk the perturbations to about half a
    percent of ``z``'s norm, a bfloat16 ``z + eps`` (8-bit mantissa) rounds much of each one away, and the
    discriminator would be trained on rounding noise instead of the perturbation. It is two small
    linear layers, so float32 costs nothing worth saving.
    """
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.float()
        return net.discriminator(z), net.discriminator(z.unsqueeze(0) + eps.float())


def total_loss(
    net: torch.nn.Module,
    x: torch.Tensor,
    *,
    k: int,
    lambda_norm: float,
    lambda_div: float,
    x_known: torch.Tensor | None = None,
    known_weight: float = 1.0,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    x_shifted: torch.Tensor | None = None,
    shift_weight: float = 1.0,
    adversarial: bool = False,
    ce_weighting: str = "rows",
    recipe: str | None = None,
) -> LossParts:
    """``L_ce + lambda1 * L_norm + lambda2 * L_div`` (+ the known-anomaly terms) on one mini-batch.

    ``net`` is a :class:`dhag.modules.DHAGNet`; ``x``: (m, d) normal rows; ``x_known``: (n_s, d)
    labelled anomalies or None; ``x_shifted``: (m', d) unlabelled synthetic anomalies made by
    :func:`shifted_rows`, or None, entering like known anomalies with ``shift_weight``; ``noise``
    fixes the perturbators' noise channel, else it is drawn from ``generator``. ``adversarial``
    passes the perturbations to the discriminator through :func:`reverse_gradient`: Algorithm 1 has
    every part minimise the total; the paper's prose has the perturbators fool the discriminator.
    ``ce_weighting`` is :func:`ce_loss`'s ``weighting``; ``recipe`` that of :func:`norm_loss` and
    :func:`diversity_loss`, by default the one ``net`` was built with (:class:`dhag.modules.DHAGNet`).
    """
    recipe = net.recipe if recipe is None else recipe
    z = net.encoder(x)  # (m, D)
    eps = net.perturbators(x, noise, generator)  # (L, m, D)
    labels = pseudo_labels(eps, k)
    logit_clean, logit_perturbed = discriminate(net, z, reverse_gradient(eps) if adversarial else eps)
    ce = ce_loss(logit_clean, logit_perturbed, labels, weighting=ce_weighting)
    nrm = norm_loss(eps, recipe=recipe)
    div = diversity_loss(eps, recipe=recipe)
    total = ce + lambda_norm * nrm + lambda_div * div
    if x_known is not None and x_known.shape[0] > 0:
        known = known_anomaly_loss(net(x_known))
        total = total + known_weight * known
    else:
        known = total.new_zeros(())
    if x_shifted is not None and x_shifted.shape[0] > 0:
        shifted = known_anomaly_loss(net(x_shifted))
        total = total + shift_weight * shifted
    else:
        shifted = total.new_zeros(())
    return LossParts(total, ce, nrm, div, known, shifted)


def k_for_batch(k: float, m: int) -> int:
    """The number of pseudo-normal perturbations for a mini-batch of ``m``.

    ``k`` in (0, 1) is a fraction of the batch; ``k >= 1`` is a count, capped at ``m - 1`` so that a
    batch always keeps at least one synthetic anomaly.
    """
    count = round(k * m) if k < 1 else int(k)
    return max(0, min(count, m - 1))
