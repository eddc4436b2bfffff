"""Hardware emulation: reference and normalisation, defect forcing, bit-line currents."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_helpers import synthetic_die

from labctl.core.defects import DefectCode
from labctl.core.errors import DataFormatError
from labctl.training.crossbar import (
    TileResponse,
    die_responses,
    programmed_response,
    reference_levels_S,
    tile_response,
)
from labctl.training.network import BinaryNetwork

G_P, G_AP, G_SHORT = 2.0e-4, 1.0e-4, 8.0e-4


def uniform_tile(codes: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One die; every cell G_P / G_AP, defective cells reading what their defect forces."""
    defects = torch.tensor([codes])
    g_p = torch.full(defects.shape, G_P, dtype=torch.float64)
    g_ap = torch.full(defects.shape, G_AP, dtype=torch.float64)
    g_p[defects == DefectCode.SHORT] = g_ap[defects == DefectCode.SHORT] = G_SHORT
    g_p[defects == DefectCode.OPEN] = g_ap[defects == DefectCode.OPEN] = 1e-12
    g_ap[defects == DefectCode.STUCK_P] = G_P
    g_p[defects == DefectCode.STUCK_AP] = G_AP
    return g_p, g_ap, defects


def test_reference_is_midpoint_of_median_working_cells() -> None:
    g_p, g_ap, defects = uniform_tile([[0, 0, 1], [0, 2, 0]])
    g_ref, half_step = reference_levels_S(g_p, g_ap, defects)
    assert g_ref.item() == pytest.approx((G_P + G_AP) / 2)
    assert half_step.item() == pytest.approx((G_P - G_AP) / 2)
    with pytest.raises(DataFormatError, match="without any working cell"):
        reference_levels_S(g_p, g_ap, torch.ones_like(defects))


def test_working_cells_contribute_their_weight_and_defects_are_forced() -> None:
    codes = [[0, 1, 2], [3, 4, 0]]
    response = tile_response(*uniform_tile(codes))
    plus = response.effective_weights(torch.ones(1, 2, 3))
    minus = response.effective_weights(-torch.ones(1, 2, 3))
    g_ref, half = (G_P + G_AP) / 2, (G_P - G_AP) / 2
    expected_forced = {
        DefectCode.SHORT: (G_SHORT - g_ref) / half,  # strongly positive
        DefectCode.OPEN: -g_ref / half,
        DefectCode.STUCK_P: 1.0,
        DefectCode.STUCK_AP: -1.0,
    }
    for (r, c), code in np.ndenumerate(np.array(codes)):
        if code == DefectCode.OK:
            assert plus[0, r, c].item() == pytest.approx(1.0)
            assert minus[0, r, c].item() == pytest.approx(-1.0)
        else:  # whatever the weight
            assert plus[0, r, c].item() == pytest.approx(expected_forced[DefectCode(code)])
            assert minus[0, r, c].item() == pytest.approx(plus[0, r, c].item())


def test_defective_cell_gets_no_gradient_on_its_weight() -> None:
    g_p, g_ap, defects = uniform_tile([[0, 1], [3, 0], [4, 2]])
    tile0 = tile_response(g_p, g_ap, defects)
    net = BinaryNetwork((3, 2, 2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.scale[0].fill_(0.01)  # keep the hidden neurons inside the straight-through window
    x = torch.ones(4, 3)
    out = net(x, [tile0, TileResponse.ideal(2, 2)])
    (out * torch.tensor([1.0, 2.0])).sum().backward()  # never cancels: ±1 ± 2 != 0
    grad = net.latent[0].grad
    assert grad is not None
    assert torch.all(grad[0][defects[0] != 0] == 0)
    assert torch.any(grad[0][defects[0] == 0] != 0)


def test_pre_activation_is_bit_line_current_minus_reference_normalised() -> None:
    die = synthetic_die(
        "die_03_00", seed=4, shapes=((12, 8), (8, 4)), rates=(0.05, 0.05, 0.05, 0.05)
    )
    tile = die.tiles[0]
    net = BinaryNetwork((12, 8, 4), generator=torch.Generator().manual_seed(3))
    signs = net.signs()[0][0].detach().numpy()
    x = (np.random.default_rng(5).random((6, 12)) > 0.5).astype(np.float64)
    # Physics by hand: P cell (+1) conducts G_P, AP cell G_AP, defects their forced value.
    g_cell = np.where(signs > 0, tile.g_p_S, tile.g_ap_S)
    d = tile.defects
    g_cell = np.where(d == DefectCode.SHORT, (tile.g_p_S + tile.g_ap_S) / 2, g_cell)
    g_cell = np.where(d == DefectCode.OPEN, 0.0, g_cell)
    g_cell = np.where(d == DefectCode.STUCK_P, tile.g_p_S, g_cell)
    g_cell = np.where(d == DefectCode.STUCK_AP, tile.g_ap_S, g_cell)
    v_read = 0.1
    current = v_read * x @ g_cell
    ok = d == DefectCode.OK
    g_ref = (np.median(tile.g_p_S[ok]) + np.median(tile.g_ap_S[ok])) / 2
    half = (np.median(tile.g_p_S[ok]) - np.median(tile.g_ap_S[ok])) / 2
    expected = (current - v_read * x.sum(axis=1, keepdims=True) * g_ref) / (v_read * half)
    response = die_responses([die])[0]
    weights = response.effective_weights(torch.from_numpy(signs).float()[None])
    got = torch.from_numpy(x).float() @ weights[0]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_programmed_map_ignores_the_network_weights() -> None:
    g_read = torch.tensor([[[2.0e-4, 1.0e-4], [8.0e-4, 0.0]]])
    response = programmed_response(g_read, torch.tensor([1.5e-4]), torch.tensor([0.5e-4]))
    expected = torch.tensor([[[1.0, -1.0], [13.0, -3.0]]])
    for signs in (torch.ones(1, 2, 2), -torch.ones(1, 2, 2)):
        torch.testing.assert_close(response.effective_weights(signs), expected)
