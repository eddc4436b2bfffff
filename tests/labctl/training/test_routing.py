"""Defect-aware routing: bad rows to quiet inputs, and the same bit-line sums as programmed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_helpers import synthetic_die

from labctl.core.errors import DataFormatError
from labctl.training.crossbar import TileResponse, die_responses
from labctl.training.network import BinaryNetwork
from labctl.training.routing import (
    DieRouting,
    RoutingPriority,
    apply_routing,
    apply_rows,
    assign_rows,
    route,
    routing_from_metadata,
    routing_to_metadata,
    row_badness,
)
from labctl.training.train import TrainConfig


def test_row_badness_ranks_defects_above_device_spread() -> None:
    offset = torch.zeros(1, 5, 4)
    gain = torch.ones(1, 5, 4) + 0.05
    offset[0, 1, 0], gain[0, 1, 0] = 12.0, 0.0  # short
    offset[0, 2, 3], gain[0, 2, 3] = -2.9, 0.0  # open
    offset[0, 3, 1], gain[0, 3, 1] = 1.0, 0.0  # stuck P
    badness = row_badness(TileResponse(offset, gain))[0]
    assert torch.argsort(badness, descending=True).tolist()[:3] == [1, 2, 3]
    assert badness[1] > 50 * badness[3] > 50 * badness[0]


def test_quietest_inputs_get_the_worst_rows_and_spare_rows_stay_unused() -> None:
    offset = torch.zeros(2, 6, 3)
    gain = torch.ones(2, 6, 3)
    offset[0, 4, 0], gain[0, 4, 0] = 12.0, 0.0  # die 0: row 4 worst, row 1 next
    offset[0, 1, 2], gain[0, 1, 2] = -3.0, 0.0
    offset[1, 0, 1], gain[1, 0, 1] = 12.0, 0.0  # die 1: row 0 worst
    activity = torch.tensor([0.5, 0.0, 0.9, 0.2, 0.3])  # 5 inputs on a 6-row tile
    priority = RoutingPriority.from_activity([activity])
    rows = assign_rows(priority, [TileResponse(offset, gain)])[0]
    # Die 0: the worst row (4) is the spare one, never driven; the next worst (1) goes to the
    # quietest input (1).
    assert 4 not in rows[0].tolist() and rows[0, 1] == 1
    assert 0 not in rows[1].tolist()
    assert all(len(set(r.tolist())) == 5 for r in rows)


def test_routed_response_is_the_physical_rows_in_logical_order() -> None:
    response = TileResponse(torch.randn(3, 6, 4), torch.randn(3, 6, 4))
    rows = [torch.stack([torch.randperm(6)[:5] for _ in range(3)])]
    routed = apply_rows([response], rows)[0]
    for d in range(3):
        for i in range(5):
            torch.testing.assert_close(routed.offset[d, i], response.offset[d, rows[0][d, i]])
    assert route(None, [response])[0] is response


def test_programmed_pattern_and_row_drive_reproduce_the_routed_network() -> None:
    die = synthetic_die("die_03_00", seed=1, shapes=((12, 8), (8, 4)), rates=(0.05, 0.05, 0, 0))
    responses = die_responses([die])
    net = BinaryNetwork((10, 8, 4), generator=torch.Generator().manual_seed(0))  # 10 of 12 rows
    x = (torch.rand(20, 10, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    priority = RoutingPriority.of_network(net, x)
    rows = assign_rows(priority, responses)
    routing = DieRouting(tuple(r[0].numpy() for r in rows))
    logical = net(x, apply_rows(responses, rows))[0]
    # What the station does: program the physical pattern, drive the physical rows.
    signs = [s[0].detach().numpy() for s in net.signs()]
    h = x.numpy()
    for k, response in enumerate(responses):
        pattern = routing.physical_signs(k, signs[k], response.shape)
        cells = response.effective_weights(torch.from_numpy(pattern).float()[None])[0].numpy()
        drive = np.stack([routing.physical_inputs(k, b, response.shape[0]) for b in h])
        pre = drive.astype(np.float32) @ cells[:, : signs[k].shape[1]]
        u = torch.from_numpy(pre) * net.scale[k][0] + net.bias[k][0]
        h = u.detach().numpy() if k == net.n_layers - 1 else (u >= 0).float().numpy()
    np.testing.assert_allclose(h, logical.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_routing_metadata_round_trip_and_validation() -> None:
    sizes = (4, 3, 2)
    priority = RoutingPriority.from_activity([torch.tensor([0.3, 0.1, 0.2, 0.0]), torch.rand(3)])
    again = routing_from_metadata(routing_to_metadata(priority), sizes)
    assert isinstance(again, RoutingPriority)
    assert again.input_order[0].tolist() == [3, 1, 2, 0]
    rows = DieRouting((np.array([5, 0, 2, 1]), np.array([2, 1, 0])))
    back = routing_from_metadata(routing_to_metadata(rows), sizes)
    assert isinstance(back, DieRouting) and back.rows[0].tolist() == [5, 0, 2, 1]
    assert routing_from_metadata(None, sizes) is None
    with pytest.raises(DataFormatError, match="permutation"):
        routing_from_metadata({"priority": [[0, 0, 1, 2], [0, 1, 2]]}, sizes)
    with pytest.raises(DataFormatError, match="twice"):
        routing_from_metadata({"rows": [[0, 0, 1, 2], [0, 1, 2]]}, sizes)
    with pytest.raises(DataFormatError, match="unknown routing"):
        routing_from_metadata({"magic": 1}, sizes)
    response = TileResponse(torch.zeros(1, 4, 3), torch.ones(1, 4, 3))
    with pytest.raises(DataFormatError, match="row 5"):
        apply_routing(rows, [response, TileResponse(torch.zeros(1, 3, 2), torch.ones(1, 3, 2))])


def test_routing_is_on_by_default_and_can_be_switched_off() -> None:
    assert TrainConfig().routing is True
    assert TrainConfig(routing=False).routing is False
