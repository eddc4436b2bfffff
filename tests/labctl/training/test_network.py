"""Binary network: straight-through estimators, forward pass, fitting the tiles, model stacks."""

from __future__ import annotations

import pytest
import torch

from labctl.core.errors import ConfigError
from labctl.training.crossbar import TileResponse
from labctl.training.network import (
    BinaryNetwork,
    binary_sign,
    binary_step,
    check_layers_fit,
)


def test_sign_is_plus_minus_one_with_straight_through_gradient() -> None:
    latent = torch.tensor([-1.5, -0.3, 0.0, 0.4, 2.0], requires_grad=True)
    signs = binary_sign(latent)
    assert signs.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    signs.backward(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    # Gradient passes unchanged where |latent| <= 1, is cut where the latent weight saturated.
    assert latent.grad is not None
    assert latent.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 0.0]


def test_step_neuron_is_binary_with_hardtanh_gradient() -> None:
    u = torch.tensor([-2.0, -0.5, 0.0, 0.7, 3.0], requires_grad=True)
    h = binary_step(u)
    assert h.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0 + 1.0]
    h.sum().backward()
    assert u.grad is not None
    assert u.grad.tolist() == [0.0, 0.5, 0.5, 0.5, 0.0]


def test_ideal_forward_is_the_binary_network_by_hand() -> None:
    torch.manual_seed(0)
    net = BinaryNetwork((6, 4, 3))
    x = (torch.rand(5, 6) > 0.5).float()
    w1, w2 = (torch.where(p[0] >= 0, 1.0, -1.0) for p in net.latent)
    hidden = ((x @ w1) * net.scale[0][0] + net.bias[0][0] >= 0).float()
    expected = (hidden @ w2) * net.scale[1][0] + net.bias[1][0]
    out = net(x)
    assert out.shape == (1, 5, 3)
    torch.testing.assert_close(out[0], expected)
    # A perfect tile is the same as no hardware at all.
    ideal = [TileResponse.ideal(6, 4), TileResponse.ideal(4, 3)]
    torch.testing.assert_close(net(x, ideal), out)


def test_layers_that_do_not_fit_the_tiles_are_refused() -> None:
    check_layers_fit((196, 100, 10), ((196, 100), (100, 10)))
    check_layers_fit((150, 80, 10), ((196, 100), (100, 10)))  # smaller layers use a corner
    with pytest.raises(ConfigError, match=r"layer 0 .*does not fit tile 0"):
        check_layers_fit((197, 100, 10), ((196, 100), (100, 10)))
    with pytest.raises(ConfigError, match="layer 1"):
        check_layers_fit((196, 100, 12), ((196, 100), (100, 10)))
    with pytest.raises(ConfigError, match="needs 3 tiles"):
        check_layers_fit((196, 100, 10, 10), ((196, 100), (100, 10)))
    with pytest.raises(ConfigError):
        BinaryNetwork((196,))


def test_smaller_layer_uses_the_tile_corner() -> None:
    net = BinaryNetwork((3, 2, 2))
    big = [TileResponse.ideal(5, 4), TileResponse.ideal(4, 3)]
    x = torch.tensor([[1.0, 0.0, 1.0]])
    torch.testing.assert_close(net(x, big), net(x))


def test_replicate_take_and_stack_round_trip() -> None:
    net = BinaryNetwork((4, 3, 2), generator=torch.Generator().manual_seed(1))
    many = net.replicate(3)
    assert many.n_models == 3
    with torch.no_grad():
        many.latent[0][1] *= -1
    parts = [many.take(i, i + 1) for i in range(3)]
    restacked = BinaryNetwork.stack(parts)
    for a, b in zip(restacked.parameters(), many.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(parts[0].latent[0], net.latent[0])
    torch.testing.assert_close(parts[1].latent[0], -net.latent[0])


def test_shared_inputs_on_many_dies_match_one_die_at_a_time() -> None:
    torch.manual_seed(2)
    net = BinaryNetwork((6, 5, 3))
    responses = [
        TileResponse(torch.randn(4, 6, 5) * 0.3, 1 + torch.randn(4, 6, 5) * 0.1),
        TileResponse(torch.randn(4, 5, 3) * 0.3, 1 + torch.randn(4, 5, 3) * 0.1),
    ]
    x = (torch.rand(7, 6) > 0.5).float()
    together = net(x, responses)
    for d in range(4):
        alone = net(x, [r.select([d]) for r in responses])
        torch.testing.assert_close(together[d], alone[0])
    # Per-die inputs (dies, samples, inputs) give the same as shared inputs repeated.
    torch.testing.assert_close(net(x.expand(4, -1, -1), responses), together)
