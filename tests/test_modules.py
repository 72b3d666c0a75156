"""The three networks: shapes, the noise channel, and that each perturbator is its own network."""

from __future__ import annotations

import pytest
import torch

from dhag.modules import DHAGNet, Discriminator, Encoder, Perturbators


@pytest.mark.parametrize(("n", "d", "latent", "layers"), [(1, 1, 8, 1), (7, 5, 64, 4), (3, 12, 16, 2)])
def test_encoder_maps_rows_to_latents(n: int, d: int, latent: int, layers: int) -> None:
    z = Encoder(n_features=d, latent_dim=latent, n_layers=layers)(torch.randn(n, d))
    assert z.shape == (n, latent)


@pytest.mark.parametrize(("n_pert", "n", "d", "latent"), [(1, 4, 3, 8), (5, 7, 6, 64), (3, 1, 2, 16)])
def test_perturbators_give_one_perturbation_per_perturbator_and_row(
    n_pert: int, n: int, d: int, latent: int
) -> None:
    eps = Perturbators(n_features=d, n_perturbators=n_pert, latent_dim=latent, hidden_dim=32)(
        torch.randn(n, d)
    )
    assert eps.shape == (n_pert, n, latent)


def test_perturbators_refuse_zero_perturbators() -> None:
    with pytest.raises(ValueError, match="n_perturbators"):
        Perturbators(n_features=3, n_perturbators=0)


@pytest.mark.parametrize("shape", [(6, 64), (5, 6, 64), (64,)])
def test_discriminator_gives_one_logit_per_latent(shape: tuple[int, ...]) -> None:
    assert Discriminator(latent_dim=64, hidden_dim=32)(torch.randn(*shape)).shape == shape[:-1]


def test_dhagnet_scores_are_discriminator_of_encoder() -> None:
    torch.manual_seed(0)
    net = DHAGNet(n_features=5, latent_dim=16, n_perturbators=3)
    x = torch.randn(9, 5)
    logits = net(x)
    assert logits.shape == (9,)
    torch.testing.assert_close(logits, net.discriminator(net.encoder(x)))
    assert net.perturbators(x).shape == (3, 9, 16)


def _perturbators(seed: int = 0) -> Perturbators:
    torch.manual_seed(seed)
    return Perturbators(n_features=4, n_perturbators=3, latent_dim=8, hidden_dim=16)


def test_perturbators_are_deterministic_given_the_noise() -> None:
    g, x = _perturbators(), torch.randn(10, 4)
    noise = torch.rand(3, 10, 1)
    torch.testing.assert_close(g(x, noise), g(x, noise.clone()), rtol=0, atol=0)


def test_perturbations_change_with_the_noise() -> None:
    g, x = _perturbators(), torch.randn(10, 4)
    a = g(x, torch.zeros(3, 10, 1))
    b = g(x, torch.ones(3, 10, 1))
    assert not torch.allclose(a, b)
    assert not torch.allclose(g(x), g(x)), "without given noise each call draws fresh noise"


def test_noise_is_drawn_independently_per_perturbator() -> None:
    g, x = _perturbators(), torch.randn(10, 4)
    with torch.no_grad():
        for p in (g.w1, g.b1, g.w2, g.b2):
            p[1:] = p[0]
    eps = g(x)
    # Identical networks: only their noise can tell them apart.
    assert not torch.allclose(eps[0], eps[1])
    assert not torch.allclose(eps[1], eps[2])


@pytest.mark.parametrize("name", ["w1", "b1", "w2", "b2"])
def test_each_perturbator_has_its_own_weights(name: str) -> None:
    g, x = _perturbators(), torch.randn(10, 4)
    noise = torch.rand(3, 10, 1)
    before = g(x, noise).detach()
    with torch.no_grad():
        getattr(g, name)[0] += 0.5
    after = g(x, noise).detach()
    assert not torch.allclose(after[0], before[0])
    torch.testing.assert_close(after[1:], before[1:], rtol=0, atol=0)


def test_the_reference_recipe_builds_a_nonnegative_encoder_and_bias_free_first_perturbator_layer() -> None:
    torch.manual_seed(0)
    paper, reference = (
        DHAGNet(n_features=5, latent_dim=16),
        DHAGNet(n_features=5, latent_dim=16, recipe="reference"),
    )
    x = torch.randn(50, 5)
    assert (reference.encoder(x) >= 0).all() and (paper.encoder(x) < 0).any()
    assert "perturbators.b1" in paper.state_dict() and "perturbators.b1" not in reference.state_dict()
    assert set(reference.state_dict()) == set(paper.state_dict()) - {"perturbators.b1"}
    # Without the first bias a zero input and zero noise give the second layer's bias alone.
    g = reference.perturbators
    eps = g(torch.zeros(2, 5), torch.zeros(g.n_perturbators, 2, 1))
    torch.testing.assert_close(eps, g.b2.expand(-1, 2, -1), rtol=0, atol=0)
    assert reference(x).shape == (50,) and reference.perturbators(x).shape == (5, 50, 16)


def test_an_unknown_recipe_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="recipe must be one of paper, reference. Got 'authors'"):
        DHAGNet(n_features=3, recipe="authors")
