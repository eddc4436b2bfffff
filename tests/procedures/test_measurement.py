"""DieCharacteriser's live partial reads: with row batching the die fills in row by row."""

from __future__ import annotations

from sweep_helpers import SimFactory

from procedures.measurement import DieCharacteriser, TileReads
from procedures.retry import RetryPolicy
from procedures.settings import CharacterisationSettings


def test_row_batching_publishes_each_row_as_it_is_read(sim_station: SimFactory) -> None:
    _, station = sim_station(2)
    station.prober.step_to_die(4, 2)
    station.prober.chuck.move_contact()
    rows_seen: list[tuple[int, int]] = []

    def on_partial(reads: TileReads) -> None:
        rows_seen.append((reads.tile, reads.rows_done()))

    characteriser = DieCharacteriser(
        station,
        CharacterisationSettings(cycles=1, batching="row"),
        RetryPolicy(attempts=1),
        on_partial=on_partial,
    )
    reads = characteriser.measure_tile(1, 100, 10)
    first_pass = [rows for tile, rows in rows_seen[:100]]
    assert first_pass == list(range(1, 101))  # one more row visible after every row read
    assert len(rows_seen) == 2 * 100 + 2  # every row of both passes, plus each pass's end
    assert reads.rows_done() == 100
    station.safe_state()
