"""Wafer sweep procedure: every selected die in wafer-map order, into one resumable HDF5 file.

Per die: step, contact, contact check (one re-contact), gate-leakage check, characterise,
separate, record (:mod:`procedures.die_run`). Dies already complete in the file are skipped
(resume). A die that fails is recorded with its reason and the sweep moves on, unless
``Consecutive instrument failures`` dies in a row failed on instrument errors: then the station
itself is in trouble and the sweep stops rather than touch down on die after die.
"""

from __future__ import annotations

import logging

from pymeasure.experiment import IntegerParameter, Parameter

from labctl.core.errors import InstrumentError
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.reports.summary import cell_stats
from labctl.store.layout import DieStatus
from labctl.store.reader import open_wafer
from labctl.store.wafer_file import resolve_die_selection
from procedures.base import MeasurementProcedure
from procedures.events import DIE_TOPIC, DieEvent
from procedures.settings import CONSECUTIVE_FAILURES_RANGE

log = logging.getLogger(__name__)


class WaferSweepProcedure(MeasurementProcedure):
    """Characterise the selected dies of a wafer (default: all 36) into one wafer file."""

    dies = Parameter("Dies", default="all",
                     description="'all' or comma-separated die names, e.g. die_03_00,die_04_00")
    max_consecutive_failures = IntegerParameter(
        "Consecutive instrument failures", default=3, minimum=CONSECUTIVE_FAILURES_RANGE[0],
        maximum=CONSECUTIVE_FAILURES_RANGE[1],
        description="stop when this many dies in a row fail on instrument errors")

    def selected_dies(self) -> list[str]:
        return resolve_die_selection(self.dies)

    def measure(self) -> None:
        store = self.require_store()
        names = self.selected_dies()
        statuses = store.statuses()
        run = self.die_run()
        total = len(names)
        consecutive = 0
        log.info("sweep of %d dies into %s", total, store.path)
        for position, name in enumerate(names):
            if self.should_stop():
                log.warning("sweep stopped before %s", name)
                return
            if statuses.get(name) is DieStatus.COMPLETE:
                self._announce_skipped(name, position, total)
            else:
                outcome = run.run(name, ALL_DIE_NAMES.index(name), position, total)
                consecutive = consecutive + 1 if outcome.instrument_failure else 0
                if consecutive >= self.max_consecutive_failures:
                    raise InstrumentError(
                        f"{consecutive} dies in a row failed on instrument errors (last: "
                        f"{outcome.name}: {outcome.reason}); sweep stopped, resume when the "
                        "station is fixed"
                    )
            self.emit("progress", 100.0 * (position + 1) / total)

    def _announce_skipped(self, name: str, position: int, total: int) -> None:
        """A die complete from an earlier run: announce it with its stored figures."""
        with open_wafer(self.require_store().path) as reader:
            stats = cell_stats(reader.tiles(name))
        event: DieEvent = {
            "die": name, "status": "skipped", "index": position, "total": total,
            "cells": stats.cells, "yield_fraction": stats.yield_fraction,
            "defects": dict(stats.defects), "reason": None,
        }
        self.emit(DIE_TOPIC, event)
