"""The cross-entropy terms of dhag.losses: ``L_ce`` in both weightings, a constant predictor's loss
under each, and the known-anomaly term."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from dhag.losses import ce_loss, constant_ce, discriminate, known_anomaly_loss
from dhag.modules import DHAGNet


# -- ce_loss -----------------------------------------------------------------------------------------
def _bce(logit: float, label: float) -> float:
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(label * math.log(p) + (1 - label) * math.log(1 - p))


def test_ce_loss_is_clean_as_normal_plus_perturbed_against_their_labels() -> None:
    clean = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    perturbed = torch.tensor([[0.5, -0.1, 1.5], [-2.0, 0.0, 3.0]], dtype=torch.float64)
    labels = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
    expected = np.mean([_bce(c, 0.0) for c in clean.tolist()]) + np.mean(
        [_bce(p, y) for p, y in zip(perturbed.flatten().tolist(), labels.flatten().tolist(), strict=True)]
    )
    assert ce_loss(clean, perturbed, labels).item() == pytest.approx(expected, rel=1e-12)


@given(
    clean=hnp.arrays(np.float32, 8, elements=st.floats(-1e4, 1e4, width=32)),
    perturbed=hnp.arrays(np.float32, (3, 8), elements=st.floats(-1e4, 1e4, width=32)),
    labels=hnp.arrays(np.float32, (3, 8), elements=st.sampled_from([0.0, 1.0])),
)
def test_ce_loss_is_finite_and_non_negative_for_extreme_logits(
    clean: np.ndarray, perturbed: np.ndarray, labels: np.ndarray
) -> None:
    value = ce_loss(torch.from_numpy(clean), torch.from_numpy(perturbed), torch.from_numpy(labels))
    assert value.shape == ()
    assert math.isfinite(value.item()) and value.item() >= 0
    # Equation (2) in float64: softplus(z) is the CE of logit z for label 0, softplus(-z) for label 1.
    c, p, y = clean.astype(np.float64), perturbed.astype(np.float64), labels.astype(np.float64)
    expected = np.logaddexp(0, c).mean() + (y * np.logaddexp(0, -p) + (1 - y) * np.logaddexp(0, p)).mean()
    assert value.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_class_weighting_is_the_mean_ce_of_each_class() -> None:
    clean = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    perturbed = torch.tensor([[0.5, -0.1, 1.5], [-2.0, 0.0, 3.0]], dtype=torch.float64)
    labels = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
    pairs = list(zip(perturbed.flatten().tolist(), labels.flatten().tolist(), strict=True))
    normal = [_bce(c, 0.0) for c in clean.tolist()] + [_bce(p, 0.0) for p, y in pairs if y == 0]
    anomalous = [_bce(p, 1.0) for p, y in pairs if y == 1]
    expected = np.mean(normal) + np.mean(anomalous)
    value = ce_loss(clean, perturbed, labels, weighting="classes")
    assert value.item() == pytest.approx(expected, rel=1e-12)
    assert value.item() != pytest.approx(ce_loss(clean, perturbed, labels).item(), rel=1e-3)


def test_class_weighting_gives_each_class_weight_one_whatever_k() -> None:
    # Every normal latent at logit a, every synthetic anomaly at b: only the class weighting ignores k.
    a, b, m = -1.5, 2.0, 10
    by_k = {"rows": [], "classes": []}
    for k in (1, 5, 9):
        labels = torch.ones(3, m, dtype=torch.float64)
        labels[:, :k] = 0.0
        perturbed = torch.where(labels == 1, b, a).double()
        for weighting, values in by_k.items():
            clean = torch.full((m,), a, dtype=torch.float64)
            values.append(ce_loss(clean, perturbed, labels, weighting=weighting).item())
    expected = float(F.softplus(torch.tensor(a)) + F.softplus(torch.tensor(-b)))
    assert by_k["classes"] == pytest.approx([expected] * 3, rel=1e-6)
    assert len({round(v, 6) for v in by_k["rows"]}) == 3


@pytest.mark.parametrize("weighting", ["rows", "classes"])
@pytest.mark.parametrize("k", [1, 4, 8])
def test_constant_ce_is_the_lowest_loss_a_constant_logit_reaches(weighting: str, k: int) -> None:
    m, n_pert = 10, 3
    labels = torch.ones(n_pert, m, dtype=torch.float64)
    labels[:, :k] = 0.0
    best = min(
        ce_loss(
            torch.full((m,), c, dtype=torch.float64),
            torch.full((n_pert, m), c, dtype=torch.float64),
            labels,
            weighting=weighting,
        ).item()
        for c in np.linspace(-6, 6, 2401)
    )
    # The formula is the minimum over every constant logit; the grid comes within its resolution.
    assert constant_ce(1 - k / m, weighting) <= best + 1e-12
    assert best - constant_ce(1 - k / m, weighting) < 1e-5


def test_an_unknown_weighting_is_refused() -> None:
    with pytest.raises(ValueError, match="weighting must be one of rows, classes"):
        ce_loss(torch.zeros(2), torch.zeros(1, 2), torch.ones(1, 2), weighting="balanced")


# -- known_anomaly_loss ------------------------------------------------------------------------------
def test_known_anomaly_loss_is_cross_entropy_against_anomaly() -> None:
    logits = torch.tensor([-2.0, 0.0, 4.0], dtype=torch.float64)
    expected = np.mean([_bce(v, 1.0) for v in logits.tolist()])
    assert known_anomaly_loss(logits).item() == pytest.approx(expected, rel=1e-12)


def test_known_anomaly_loss_falls_as_the_known_anomalies_score_higher() -> None:
    values = [known_anomaly_loss(torch.full((4,), v)).item() for v in (-5.0, 0.0, 5.0, 50.0)]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 1e-12


# -- discriminate under bf16 autocast -----------------------------------------------------------------
def test_the_discriminator_sees_small_perturbations_under_bf16_autocast() -> None:
    # Trained perturbations shrink to about half a percent of the latent norm. A bfloat16 z + eps
    # (8-bit mantissa) rounds much of each away: the logit shift the discriminator must learn from
    # becomes noise. CPU autocast follows the same rules for linear layers and the add as CUDA's.
    torch.manual_seed(0)
    net = DHAGNet(n_features=16)
    z = torch.randn(512, net.discriminator.net[0].in_features) * 0.5
    eps = torch.randn(5, 512, z.shape[1]) * 0.005 * z.norm(dim=1).mean() / math.sqrt(z.shape[1])
    clean, perturbed = discriminate(net, z, eps)
    exact = (perturbed - clean).detach()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        clean16, perturbed16 = discriminate(net, z.bfloat16(), eps.bfloat16())
        naive = net.discriminator(z.unsqueeze(0) + eps) - net.discriminator(z)  # all in bfloat16
    assert perturbed16.dtype == torch.float32

    def corr(a: torch.Tensor) -> float:
        return float(np.corrcoef(a.detach().float().flatten().numpy(), exact.flatten().numpy())[0, 1])

    assert corr(perturbed16 - clean16) > 0.99
    assert corr(naive) < 0.9  # what the loss saw before: the shift mostly rounded away
