"""Die geometry and read-out constants shared by the simulator, the sweep, analysis and training.

One home for the numbers every layer must agree on (docs/architecture.md, "Tiles and cells").
"""

from __future__ import annotations

#: (rows, cols) of each crossbar tile of the default die: the two layers of a 196-100-10 network.
#: Rows are inputs (word lines), columns are outputs (bit lines).
DEFAULT_TILE_SHAPES: tuple[tuple[int, int], ...] = ((196, 100), (100, 10))

#: Layer sizes of the binary network stored on the default die (inputs, hidden, outputs).
DEFAULT_LAYER_SIZES: tuple[int, ...] = (
    DEFAULT_TILE_SHAPES[0][0],
    *(cols for _, cols in DEFAULT_TILE_SHAPES),
)

#: Resistance reported for a reading at or below the noise floor (no current): a cell that reads
#: this or more is open. The station caps readings here instead of returning infinity, so every
#: resistance array stays finite.
READ_CAP_OHM: float = 1e12

#: Default read bias of the sweep's characterisation (V), as in data/stations/sim.toml: low
#: enough not to disturb a cell, high enough to read it well above the noise floor.
DEFAULT_READ_VOLTAGE_V: float = 0.1
