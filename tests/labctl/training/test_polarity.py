"""Weight polarity: inverting a layer keeps the ideal function and flips what a short does."""

from __future__ import annotations

import torch

from labctl.training.crossbar import TileResponse
from labctl.training.network import BinaryNetwork
from labctl.training.polarity import choose_polarity, invert_polarity

SIZES = (16, 12, 4)


def random_net(seed: int = 0) -> BinaryNetwork:
    net = BinaryNetwork(SIZES, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        net.latent[0][0, 0, 0] = 0.0  # an exact zero reads +1: inverted it must read -1
        for bias in net.bias:
            bias.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(seed + 1))
    return net


def test_inversion_keeps_the_ideal_function_and_flips_every_sign() -> None:
    net = random_net()
    x = (torch.rand(200, 16, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    for layers in ([0], [1], [0, 1]):
        inverted = invert_polarity(net, layers)
        torch.testing.assert_close(inverted(x), net(x))
        for k in layers:
            assert torch.equal(inverted.signs()[k], -net.signs()[k])
            assert torch.equal(inverted.scale[k], -net.scale[k])
    assert torch.equal(invert_polarity(net, []).latent[0], net.latent[0])


def test_a_short_pushes_an_inverted_neuron_down() -> None:
    net = random_net()
    x = torch.zeros(1, 16)
    x[0, 3] = 1.0
    offset = torch.zeros(1, 16, 12)
    gain = torch.ones(1, 16, 12)
    offset[0, 3, 5], gain[0, 3, 5] = 12.0, 0.0  # a short on the driven row, column 5
    shorted = [TileResponse(offset, gain), TileResponse.ideal(12, 4)]
    _, ideal = net.forward_with_hidden(x)
    _, default = net.forward_with_hidden(x, shorted)
    _, inverted = invert_polarity(net, [0]).forward_with_hidden(x, shorted)
    u = net.scale[0][0, 0, 5]
    # The default polarity fires column 5 if its scale is positive; inverted, it stays silent.
    if u > 0:
        assert default[0][0, 0, 5] == 1 and inverted[0][0, 0, 5] == 0
    else:
        assert default[0][0, 0, 5] == 0 and inverted[0][0, 0, 5] == 1
    assert torch.equal(ideal[0][0, 0, :5], inverted[0][0, 0, :5])


def test_choose_polarity_keeps_the_best_scored_combination() -> None:
    net = random_net()
    wanted = invert_polarity(net, [1]).scale[1]

    def score(candidate: BinaryNetwork) -> float:
        return (
            0.0
            if torch.equal(candidate.scale[1], wanted)
            and not torch.equal(candidate.scale[0], -net.scale[0])
            else 1.0
        )

    chosen, choice = choose_polarity(net, score)
    assert choice.inverted_layers == (1,)
    assert set(choice.scores) == {"none", "0", "1", "0,1"} and choice.scores["1"] == 0.0
    assert torch.equal(chosen.scale[1], wanted)
    # Ties keep the default polarity.
    same, tie = choose_polarity(net, lambda _: 0.5)
    assert tie.inverted_layers == () and same is net
