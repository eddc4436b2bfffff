"""What the sweep procedures emit besides PyMeasure's standard topics, as shared names.

PyMeasure topics used: ``progress`` (percent of the whole run, float), ``results`` (one record
per characterised tile row, keys = ``ROW_COLUMNS``), ``log``. labctl adds ``die``: one record
each time a die starts, completes, fails, is skipped (already complete) or is aborted, with the
keys of :class:`DieEvent`. A PyMeasure Worker ignores unknown topics, so the procedures run
unchanged in a GUI; the command line uses ``die`` for its progress bar, log and summary.
"""

from __future__ import annotations

from typing import Literal, TypedDict

DIE_TOPIC = "die"

DieStatus = Literal["started", "complete", "failed", "skipped", "aborted"]

#: Columns of the per-row ``results`` records (PyMeasure data columns, units in parentheses).
ROW_COLUMNS: list[str] = [
    "Die index",
    "Tile",
    "Row",
    "Cells",
    "Median R_P (ohm)",
    "Median R_AP (ohm)",
    "Median TMR",
    "Defective cells",
]


class DieEvent(TypedDict):
    """Payload of a ``die`` record.

    ``index``/``total``: position of the die in this run's selection (0-based) and its size.
    ``cells``: cells characterised (0 unless complete). ``yield_fraction``: ok cells / cells
    (None unless complete). ``defects``: counts by defect name (empty unless complete).
    ``reason``: why it failed or was aborted (None otherwise).
    """

    die: str
    status: DieStatus
    index: int
    total: int
    cells: int
    yield_fraction: float | None
    defects: dict[str, int]
    reason: str | None
