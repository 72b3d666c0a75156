"""Properties of the DHAG objective (dhag.losses) and of the gradients it hands each network."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from dhag.controller import NormWeightController
from dhag.losses import (
    diversity_loss,
    known_anomaly_loss,
    norm_loss,
    pseudo_labels,
    shifted_rows,
    total_loss,
)
from dhag.modules import DHAGNet

finite = st.floats(-1e3, 1e3, width=32)


@st.composite
def perturbations(draw: st.DrawFn, max_l: int = 5, max_m: int = 16, max_d: int = 6) -> torch.Tensor:
    shape = (draw(st.integers(1, max_l)), draw(st.integers(1, max_m)), draw(st.integers(1, max_d)))
    return torch.from_numpy(draw(hnp.arrays(np.float32, shape, elements=finite)))


# -- pseudo_labels -----------------------------------------------------------------------------------
@given(eps=perturbations(), data=st.data())
def test_pseudo_labels_mark_exactly_the_k_smallest_norms_normal(
    eps: torch.Tensor, data: st.DataObject
) -> None:
    n_pert, m, _ = eps.shape
    k = data.draw(st.integers(0, m), label="k")
    labels = pseudo_labels(eps, k)
    assert labels.shape == (n_pert, m)
    assert set(labels.unique().tolist()) <= {0.0, 1.0}
    norms = eps.norm(dim=2)
    for i in range(n_pert):
        zeros, ones = labels[i] == 0, labels[i] == 1
        assert int(zeros.sum()) == k
        if 0 < k < m:
            # Ties may be broken either way, but no normal-labelled norm exceeds an anomaly-labelled one.
            assert norms[i][zeros].max() <= norms[i][ones].min()


def test_pseudo_labels_are_chosen_per_perturbator() -> None:
    eps = torch.tensor([[[1.0], [5.0], [3.0]], [[9.0], [0.5], [7.0]]])
    assert pseudo_labels(eps, 1).tolist() == [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]


@pytest.mark.parametrize("k", [-1, 4])
def test_pseudo_labels_reject_k_outside_the_batch(k: int) -> None:
    with pytest.raises(ValueError, match="k must be in"):
        pseudo_labels(torch.ones(2, 3, 4), k)


def test_pseudo_labels_carry_no_gradient() -> None:
    eps = torch.randn(2, 5, 3, requires_grad=True)
    assert not pseudo_labels(eps, 2).requires_grad


# -- norm_loss ---------------------------------------------------------------------------------------
@given(eps=perturbations())
def test_norm_loss_is_the_mean_l2_norm(eps: torch.Tensor) -> None:
    expected = np.linalg.norm(eps.double().numpy(), axis=2).mean()
    value = norm_loss(eps)
    assert value.shape == ()
    assert value.item() == pytest.approx(expected, rel=1e-4, abs=1e-4)


@given(eps=perturbations())
def test_the_reference_norm_loss_is_the_norm_of_all_perturbations_at_once(eps: torch.Tensor) -> None:
    expected = np.sqrt((eps.double().numpy() ** 2).sum())
    assert norm_loss(eps, recipe="reference").item() == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_the_reference_norm_loss_grows_with_the_batch_where_the_mean_does_not() -> None:
    one = torch.randn(3, 4, 8)
    many = one.repeat(1, 25, 1)  # the same rows, 25 times over
    assert norm_loss(many).item() == pytest.approx(norm_loss(one).item(), rel=1e-5)
    assert norm_loss(many, recipe="reference").item() == pytest.approx(
        5 * norm_loss(one, recipe="reference").item()
    )


# -- diversity_loss ----------------------------------------------------------------------------------
@st.composite
def orthogonal_perturbations(draw: st.DrawFn) -> torch.Tensor:
    d = draw(st.integers(2, 8))
    n_pert, m = draw(st.integers(2, d)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    eps = np.empty((n_pert, m, d))
    for i in range(m):
        basis, _ = np.linalg.qr(gen.normal(size=(d, d)))  # a random orthonormal basis per sample
        scales = gen.uniform(0.1, 10.0, size=n_pert)
        eps[:, i, :] = basis[:, :n_pert].T * scales[:, None]
    return torch.from_numpy(eps)


@given(eps=orthogonal_perturbations())
def test_orthogonal_perturbations_have_zero_diversity_loss(eps: torch.Tensor) -> None:
    assert diversity_loss(eps).item() == pytest.approx(0.0, abs=1e-9)


@given(
    direction=hnp.arrays(np.float64, (4, 5), elements=st.floats(0.5, 10.0)),
    scales=hnp.arrays(np.float64, 3, elements=st.floats(0.01, 100.0)),
)
def test_perturbations_in_one_direction_have_diversity_loss_one(
    direction: np.ndarray, scales: np.ndarray
) -> None:
    # Three perturbators, four samples: each perturbator a positive multiple of the same vector.
    eps = torch.from_numpy(scales[:, None, None] * direction[None])
    assert diversity_loss(eps).item() == pytest.approx(1.0, rel=1e-9)


def test_opposite_perturbations_have_diversity_loss_minus_one() -> None:
    assert diversity_loss(torch.tensor([[[1.0, 2.0]], [[-3.0, -6.0]]])).item() == pytest.approx(-1.0)


@given(eps=perturbations(max_l=5).filter(lambda e: e.shape[0] >= 2))
def test_diversity_loss_is_a_mean_cosine(eps: torch.Tensor) -> None:
    value = diversity_loss(eps).item()
    n_pert = eps.shape[0]
    # Mean pairwise cosine of L vectors is at least -1/(L-1) (their sum has a non-negative norm).
    assert -1.0 / (n_pert - 1) - 1e-5 <= value <= 1.0 + 1e-5
    # Pair by pair, sample by sample, in float64 (a zero perturbation has cosine 0 with any other).
    e = eps.double().numpy()
    unit = e / np.maximum(np.linalg.norm(e, axis=2, keepdims=True), 1e-8)
    pairs = [(unit[i] * unit[j]).sum(axis=1) for i in range(n_pert) for j in range(i + 1, n_pert)]
    assert value == pytest.approx(float(np.mean(pairs)), abs=1e-5)


@given(eps=perturbations(max_l=5).filter(lambda e: e.shape[0] >= 2))
def test_the_reference_diversity_loss_sums_the_pairs_the_paper_averages(eps: torch.Tensor) -> None:
    pairs = eps.shape[0] * (eps.shape[0] - 1) / 2
    summed = diversity_loss(eps, recipe="reference").item()
    assert summed == pytest.approx(pairs * diversity_loss(eps).item(), rel=1e-6, abs=1e-6)


def test_single_perturbator_has_zero_diversity_loss() -> None:
    assert diversity_loss(torch.randn(1, 6, 4)).item() == 0.0


@pytest.mark.parametrize("recipe", ["paper", "reference"])
def test_zero_perturbations_give_finite_diversity_and_norm_losses_and_gradients(recipe: str) -> None:
    eps = torch.zeros(3, 4, 5, requires_grad=True)
    div, nrm = diversity_loss(eps, recipe=recipe), norm_loss(eps, recipe=recipe)
    assert math.isfinite(div.item()) and math.isfinite(nrm.item())
    (div + nrm).backward()
    assert torch.isfinite(eps.grad).all()


# -- total_loss --------------------------------------------------------------------------------------
GROUPS = ("encoder", "perturbators", "discriminator")


def _net(seed: int = 0) -> DHAGNet:
    torch.manual_seed(seed)
    return DHAGNet(
        n_features=4,
        latent_dim=16,
        encoder_layers=3,
        n_perturbators=3,
        perturbator_hidden=16,
        discriminator_hidden=8,
    )


def _grad_norms(net: DHAGNet) -> dict[str, float]:
    norms = {}
    for group in GROUPS:
        grads = [p.grad for p in getattr(net, group).parameters()]
        norms[group] = sum(0.0 if g is None else float(g.norm()) for g in grads)
    return norms


def test_total_loss_is_the_weighted_sum_of_its_parts() -> None:
    net, x, x_known = _net(), torch.randn(12, 4), torch.randn(3, 4)
    noise = torch.rand(3, 12, 1)
    parts = total_loss(
        net, x, k=5, lambda_norm=0.7, lambda_div=0.3, x_known=x_known, known_weight=2.0, noise=noise
    )
    expected = parts.ce + 0.7 * parts.norm + 0.3 * parts.div + 2.0 * parts.known
    torch.testing.assert_close(parts.total, expected)
    torch.testing.assert_close(parts.known, F.softplus(-net(x_known)).mean())


def test_total_loss_takes_the_regularisers_of_its_recipe() -> None:
    net, x, noise = _net(), torch.randn(12, 4), torch.rand(3, 12, 1)
    eps = net.perturbators(x, noise)
    for recipe in ("paper", "reference"):
        parts = total_loss(net, x, k=5, lambda_norm=0.7, lambda_div=0.3, noise=noise, recipe=recipe)
        torch.testing.assert_close(parts.norm, norm_loss(eps, recipe=recipe))
        torch.testing.assert_close(parts.div, diversity_loss(eps, recipe=recipe))
        torch.testing.assert_close(parts.total, parts.ce + 0.7 * parts.norm + 0.3 * parts.div)


def test_total_loss_without_known_anomalies_has_a_zero_known_term() -> None:
    net, x, noise = _net(), torch.randn(12, 4), torch.rand(3, 12, 1)
    plain = total_loss(net, x, k=5, lambda_norm=1.0, lambda_div=0.1, noise=noise)
    empty = total_loss(net, x, k=5, lambda_norm=1.0, lambda_div=0.1, x_known=torch.empty(0, 4), noise=noise)
    assert plain.known.item() == 0.0
    torch.testing.assert_close(empty.total, plain.total)


def test_every_network_receives_gradient_from_the_total_loss() -> None:
    net = _net()
    parts = total_loss(
        net, torch.randn(32, 4), k=12, lambda_norm=1.0, lambda_div=0.1, x_known=torch.randn(4, 4)
    )
    parts.total.backward()
    norms = _grad_norms(net)
    for group in GROUPS:
        assert norms[group] > 0, f"{group} received no gradient"
    for p in net.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_known_anomaly_term_trains_encoder_and_discriminator_but_not_perturbators() -> None:
    net, x, x_known, noise = _net(), torch.randn(32, 4), torch.randn(4, 4), torch.rand(3, 32, 1)
    parts = total_loss(net, x, k=12, lambda_norm=0.0, lambda_div=0.0, x_known=x_known, noise=noise)
    for group in GROUPS:
        params = list(getattr(net, group).parameters())
        grads = torch.autograd.grad(parts.known, params, retain_graph=True, allow_unused=True)
        total = sum(0.0 if g is None else float(g.abs().sum()) for g in grads)
        if group == "perturbators":
            assert total == 0.0
        else:
            assert total > 0.0, f"the known-anomaly term gave {group} no gradient"

    # The same seen from the whole objective: adding the known anomalies changes the encoder's gradient
    # and leaves the perturbators' gradient exactly as it was.
    def grads_of(known: torch.Tensor | None) -> dict[str, list[torch.Tensor]]:
        net.zero_grad(set_to_none=True)
        total_loss(net, x, k=12, lambda_norm=0.0, lambda_div=0.0, x_known=known, noise=noise).total.backward()
        return {g: [p.grad.clone() for p in getattr(net, g).parameters()] for g in GROUPS}

    with_known, without = grads_of(x_known), grads_of(None)
    for a, b in zip(with_known["perturbators"], without["perturbators"], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any(
        not torch.allclose(a, b) for a, b in zip(with_known["encoder"], without["encoder"], strict=True)
    )


# -- shifted-row anomalies ---------------------------------------------------------------------------
def test_shifted_rows_move_one_listed_column_per_row_within_the_range() -> None:
    x = torch.randn(500, 6)
    before = x.clone()
    columns = torch.tensor([1, 4])
    moved = shifted_rows(x, columns, (2.0, 4.0), torch.Generator().manual_seed(0))
    delta = (moved - x).abs()
    assert ((delta > 0).sum(dim=1) == 1).all()
    assert (delta[:, [0, 2, 3, 5]] == 0).all()
    size = delta.max(dim=1).values
    assert (size >= 2.0 - 1e-5).all() and (size <= 4.0 + 1e-5).all()
    signs = torch.sign((moved - x).sum(dim=1))
    assert 150 < int((signs > 0).sum()) < 350  # both directions, about equally often
    assert 150 < int((delta[:, 1] > 0).sum()) < 350  # both listed columns
    again = shifted_rows(x, columns, (2.0, 4.0), torch.Generator().manual_seed(0))
    torch.testing.assert_close(moved, again, rtol=0, atol=0)
    assert torch.equal(x, before)  # the input is not modified


def test_shifted_rows_beyond_the_range_never_land_among_the_training_values() -> None:
    x = torch.randn(2000, 5)
    low, high = x.amin(dim=0), x.amax(dim=0)
    columns = torch.tensor([0, 3])
    moved = shifted_rows(x, columns, (0.0, 2.0), torch.Generator().manual_seed(0), bounds=(low, high))
    changed = moved != x
    assert (changed.sum(dim=1) == 1).all() and not changed[:, [1, 2, 4]].any()
    col = changed.float().argmax(dim=1)
    value = moved[torch.arange(len(x)), col]
    up = value > high[col]
    down = value < low[col]
    assert (up | down).all()  # outside every training value of that column, whatever the row held
    assert (value[up] <= high[col][up] + 2.0 + 1e-5).all() and (
        value[down] >= low[col][down] - 2.0 - 1e-5
    ).all()
    assert 800 < int(up.sum()) < 1200  # both directions, about equally often
    again = shifted_rows(x, columns, (0.0, 2.0), torch.Generator().manual_seed(0), bounds=(low, high))
    torch.testing.assert_close(moved, again, rtol=0, atol=0)


def test_shifted_term_enters_with_its_weight_and_never_trains_the_perturbators() -> None:
    net, x, noise = _net(), torch.randn(32, 4), torch.rand(3, 32, 1)
    shifted = shifted_rows(x, torch.arange(4), (2.0, 4.0), torch.Generator().manual_seed(1))
    plain = total_loss(net, x, k=12, lambda_norm=1.0, lambda_div=0.1, noise=noise)
    parts = total_loss(
        net, x, k=12, lambda_norm=1.0, lambda_div=0.1, noise=noise, x_shifted=shifted, shift_weight=0.5
    )
    assert float(plain.shifted) == 0.0
    expected = known_anomaly_loss(net(shifted))
    torch.testing.assert_close(parts.shifted, expected)
    torch.testing.assert_close(parts.total, plain.total + 0.5 * expected)
    grads = torch.autograd.grad(parts.shifted, list(net.perturbators.parameters()), allow_unused=True)
    assert all(g is None or float(g.abs().sum()) == 0.0 for g in grads)


# -- the L_ce controller -----------------------------------------------------------------------------
def test_controller_lowers_lambda1_when_l_ce_is_above_target_and_raises_it_below() -> None:
    cpu = torch.device("cpu")
    too_hard = NormWeightController(1.0, target=0.5, constant=1.2, device=cpu)
    for _ in range(10):
        too_hard.update(torch.tensor(1.2))  # ratio 1.0: the collapse level
    assert float(too_hard.value) == pytest.approx(math.exp(10 * 0.05 * (0.5 - 1.0)), rel=1e-5)
    too_easy = NormWeightController(1.0, target=0.5, constant=1.2, device=cpu)
    for _ in range(10):
        too_easy.update(torch.tensor(0.12))  # ratio 0.1: trivially separated
    assert float(too_easy.value) == pytest.approx(math.exp(10 * 0.05 * 0.4), rel=1e-5)
    steady = NormWeightController(0.3, target=0.5, constant=1.2, device=cpu)
    steady.update(torch.tensor(0.6))
    assert float(steady.value) == pytest.approx(0.3, rel=1e-6)


def test_controller_stays_within_its_span_and_rejects_bad_settings() -> None:
    cpu = torch.device("cpu")
    ctl = NormWeightController(1.0, target=0.9, constant=1.0, device=cpu, gain=5.0, span=10.0)
    for _ in range(20):
        ctl.update(torch.tensor(5.0))
    assert float(ctl.value) == pytest.approx(0.1)
    for _ in range(40):
        ctl.update(torch.tensor(0.0))
    assert float(ctl.value) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="target"):
        NormWeightController(1.0, target=1.0, constant=1.0, device=cpu)
    with pytest.raises(ValueError, match="constant"):
        NormWeightController(1.0, target=0.5, constant=0.0, device=cpu)


def test_the_adversarial_game_flips_only_the_perturbators_share_of_the_ce_gradient() -> None:
    net, x, noise = _net(), torch.randn(32, 4), torch.rand(3, 32, 1)

    def grads_of(adversarial: bool, lambda_norm: float) -> tuple[float, dict[str, list[torch.Tensor]]]:
        net.zero_grad(set_to_none=True)
        parts = total_loss(
            net, x, k=12, lambda_norm=lambda_norm, lambda_div=0.1, noise=noise, adversarial=adversarial
        )
        parts.total.backward()
        return parts.total.item(), {g: [p.grad.clone() for p in getattr(net, g).parameters()] for g in GROUPS}

    # Same objective value; the encoder and the discriminator descend it alike.
    value_coop, coop = grads_of(False, 0.0)
    value_adv, adv = grads_of(True, 0.0)
    assert value_adv == value_coop
    for group in ("encoder", "discriminator"):
        for a, b in zip(adv[group], coop[group], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The perturbators' gradient of L_ce + lambda2 L_div: L_ce's part changes sign, L_div's does not.
    div_only = [
        torch.autograd.grad(diversity_loss(net.perturbators(x, noise)), p)[0]
        for p in net.perturbators.parameters()
    ]
    for a, c, d in zip(adv["perturbators"], coop["perturbators"], div_only, strict=True):
        torch.testing.assert_close(a, -(c - 0.1 * d) + 0.1 * d, rtol=1e-4, atol=1e-6)
    # L_norm still pulls the perturbations small in both games.
    _, adv_norm = grads_of(True, 1.0)
    assert any(
        not torch.allclose(a, b) for a, b in zip(adv_norm["perturbators"], adv["perturbators"], strict=True)
    )
