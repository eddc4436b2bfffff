"""Virtual dies drawn from a wafer's measured statistics, many at once as batched tensors.

Each virtual die picks a source die (uniformly) and takes its defect-class rates, line-failure
rates and resistance distributions; the positions of its defects and failed lines and every
device's conductances are drawn afresh. One call draws a whole batch (dies x rows x cols):
dense log-normal conductances for every cell, then the defective cells (binomial counts per die
and class at uniform positions, plus whole failed lines) patched in sparsely. This keeps a draw
cheap enough for statistics-aware training to take new dies every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from labctl.core.defects import DefectCode
from labctl.training.crossbar import TileResponse
from labctl.training.statistics import TileStatistics, WaferStatistics


@dataclass(frozen=True)
class SampledTile:
    """A batch of virtual tiles, (dies, rows, cols), and their reference levels (dies,).

    Defective cells read the conductance their defect forces in both written states, as in a
    measurement; g_ref_S and half_step_S are those of the source die the tile was drawn from.
    """

    g_p_S: torch.Tensor
    g_ap_S: torch.Tensor
    defects: torch.Tensor
    g_ref_S: torch.Tensor
    half_step_S: torch.Tensor
    #: (dies,) index of the source die (in WaferStatistics.die_names) each was drawn from.
    source: torch.Tensor

    def response(self) -> TileResponse:
        """Normalised response; exact for defects too, since they read equal in both states."""
        g_ref = self.g_ref_S[:, None, None]
        scale = 0.5 / self.half_step_S[:, None, None]
        offset = (self.g_p_S + self.g_ap_S - 2 * g_ref) * scale
        gain = (self.g_p_S - self.g_ap_S) * scale
        return TileResponse(offset, gain)


class _TileSampler:
    """Torch copies of one tile's statistics, laid out for fast batched draws."""

    def __init__(self, stats: TileStatistics) -> None:
        def as_tensor(values: object) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.float32)

        self.shape = stats.shape
        self.cell_rates = as_tensor(stats.cell_rates)
        # P(class <= c) for c = 0..3 (u beyond all four -> class 4), for searchsorted.
        self.row_cum = torch.cumsum(as_tensor(stats.row_line_rates), 1)[:, :-1].contiguous()
        self.col_cum = torch.cumsum(as_tensor(stats.col_line_rates), 1)[:, :-1].contiguous()
        self.log_g_p = as_tensor(stats.log_g_p_median)
        self.log_g_p_sigma = as_tensor(stats.log_g_p_sigma)
        self.log_ratio = as_tensor(stats.log_ratio_median)
        self.log_ratio_sigma = as_tensor(stats.log_ratio_sigma)
        self.short_ratios = as_tensor(stats.short_ratio_samples)
        median_p = torch.exp(self.log_g_p)
        median_ap = torch.exp(self.log_g_p - self.log_ratio)
        self.g_ref = (median_p + median_ap) / 2
        self.half_step = (median_p - median_ap) / 2

    def sample(self, source: torch.Tensor, generator: torch.Generator) -> SampledTile:
        n, (rows, cols) = source.numel(), self.shape
        n_cells = rows * cols
        normal = torch.randn(2, n, n_cells, generator=generator)
        log_g_p = self.log_g_p[source, None] + self.log_g_p_sigma[source, None] * normal[0]
        log_g_ap = log_g_p - (
            self.log_ratio[source, None] + self.log_ratio_sigma[source, None] * normal[1]
        )
        g_p = torch.exp(log_g_p).view(-1)
        g_ap = torch.exp(log_g_ap).view(-1)
        defects = torch.zeros(n * n_cells, dtype=torch.uint8)

        cells, codes = self._random_defects(source, generator)
        self._patch(cells, codes, source, g_p, g_ap, defects, generator)
        cells, codes = self._line_failures(source, generator)
        if cells.numel():
            self._patch(cells, codes, source, g_p, g_ap, defects, generator)
        return SampledTile(
            g_p.view(n, rows, cols),
            g_ap.view(n, rows, cols),
            defects.view(n, rows, cols),
            self.g_ref[source],
            self.half_step[source],
            source,
        )

    def _random_defects(
        self, source: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat cell indices and classes of randomly placed defects (one class per cell)."""
        n, n_cells = source.numel(), self.shape[0] * self.shape[1]
        rates = self.cell_rates[source, 1:]
        counts = torch.binomial(torch.full_like(rates, float(n_cells)), rates, generator=generator)
        counts = counts.to(torch.long).view(-1)
        die = torch.arange(n).repeat_interleave(len(DefectCode) - 1)
        code = torch.arange(1, len(DefectCode)).repeat(n)
        die, code = die.repeat_interleave(counts), code.repeat_interleave(counts)
        cells = die * n_cells + torch.randint(n_cells, (die.numel(),), generator=generator)
        # A cell drawn twice keeps its last class: deterministic, and rare at realistic rates.
        cells, order = torch.sort(cells, stable=True)
        code = code[order]
        last = torch.ones_like(cells, dtype=torch.bool)
        last[:-1] = cells[1:] != cells[:-1]
        return cells[last], code[last]

    def _line_failures(
        self, source: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat cell indices and classes of every cell on a failed row or column."""
        n, (rows, cols) = source.numel(), self.shape
        row_codes = torch.searchsorted(
            self.row_cum[source], torch.rand(n, rows, generator=generator), right=True
        )
        col_codes = torch.searchsorted(
            self.col_cum[source], torch.rand(n, cols, generator=generator), right=True
        )
        all_cells, all_codes = [], []
        die, row = torch.nonzero(row_codes, as_tuple=True)
        if die.numel():
            col = torch.arange(cols)
            all_cells.append(((die * rows + row)[:, None] * cols + col).view(-1))
            all_codes.append(row_codes[die, row].repeat_interleave(cols))
        die, col = torch.nonzero(col_codes, as_tuple=True)
        if die.numel():
            row = torch.arange(rows)
            all_cells.append(((die[:, None] * rows + row) * cols + col[:, None]).view(-1))
            all_codes.append(col_codes[die, col].repeat_interleave(rows))
        if not all_cells:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty
        return torch.cat(all_cells), torch.cat(all_codes)

    def _patch(
        self,
        cells: torch.Tensor,
        codes: torch.Tensor,
        source: torch.Tensor,
        g_p: torch.Tensor,
        g_ap: torch.Tensor,
        defects: torch.Tensor,
        generator: torch.Generator,
    ) -> None:
        """Give defective cells their class and the conductance it forces (in place)."""
        forced = torch.where(codes == DefectCode.STUCK_AP, g_ap[cells], g_p[cells])
        forced = forced.masked_fill(codes == DefectCode.OPEN, 0.0)
        is_short = codes == DefectCode.SHORT
        n_short = int(is_short.sum())
        if n_short:
            pick = torch.randint(max(self.short_ratios.numel(), 1), (n_short,), generator=generator)
            die = cells[is_short] // (self.shape[0] * self.shape[1])
            median_p = torch.exp(self.log_g_p[source[die]])
            ratios = self.short_ratios[pick] if self.short_ratios.numel() else torch.zeros(n_short)
            forced[is_short] = ratios * median_p
        g_p[cells] = forced
        g_ap[cells] = forced
        defects[cells] = codes.to(torch.uint8)


class DieSampler:
    """Draws batches of virtual dies from `stats`; reproducible from `seed`."""

    def __init__(self, stats: WaferStatistics, seed: int = 0) -> None:
        self.stats = stats
        self.generator = torch.Generator().manual_seed(int(seed))
        self._tiles = [_TileSampler(t) for t in stats.tiles]
        self._n_sources = len(stats.die_names)

    def sample_tiles(self, n_dies: int) -> list[SampledTile]:
        """`n_dies` virtual dies, every tile (one shared source die per virtual die)."""
        if n_dies < 1:
            raise ValueError(f"n_dies must be >= 1, got {n_dies}")
        source = torch.randint(self._n_sources, (n_dies,), generator=self.generator)
        return [tile.sample(source, self.generator) for tile in self._tiles]

    def sample_responses(self, n_dies: int) -> list[TileResponse]:
        """Normalised responses of `n_dies` fresh virtual dies, one per tile."""
        return [tile.response() for tile in self.sample_tiles(n_dies)]
