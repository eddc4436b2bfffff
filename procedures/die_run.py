"""One die of a sweep, start to finish: step, contact, check, characterise, separate, record.

The outcome is recorded in the wafer file (complete with its data, or failed with a one-line
reason) and announced with a ``die`` event. A die that cannot be characterised (open contact
after one re-contact, gross gate short, no switching, instrument failures that outlasted the
retries, contact lost too often) is failed and the sweep goes on; a stop request fails the die as
aborted and propagates; anything else (a refused setting, a full disk, a bug) fails the die and
propagates. Whatever ends a die early, the station is brought to its safe state first.

Before every retry the station recovers (:meth:`labctl.station.station.Station.recover`):
dropped or timed-out connections are reopened, an instrument that restarted is noticed and the
bias re-applied before anything is measured again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pyvisa.errors import VisaIOError

from labctl.core.errors import InstrumentError
from labctl.core.wafer_map import parse_die_name
from labctl.station import array_ops
from labctl.station.station import Station
from labctl.store.wafer_file import WaferFile
from procedures.die_checks import (
    ContactReference,
    DieCheckFailed,
    check_gate_leakage,
    contact_held,
    find_contact_reference,
)
from procedures.events import DIE_TOPIC, DieEvent, DieStatus
from procedures.measurement import (
    DieCharacteriser,
    StopRequested,
    TileReads,
    die_stats,
    row_records,
)
from procedures.retry import RetryPolicy, describe_failure
from procedures.settings import CharacterisationSettings
from procedures.timing import CHECK_NPLC

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Failures that end one die but not the sweep (instrument trouble and die-level defects).
DIE_FAILURES: tuple[type[BaseException], ...] = (
    DieCheckFailed, InstrumentError, VisaIOError, TimeoutError, ConnectionError,
)


@dataclass(frozen=True)
class DieOutcome:
    """How a die ended; `instrument_failure` tells instrument trouble from a bad die."""

    name: str
    status: DieStatus
    reason: str | None = None
    instrument_failure: bool = False


def recover_station(station: Station) -> None:
    """Before a retry: reopen failed connections, notice restarted instruments (their bias is
    re-applied by the next measurement), drop late replies and stop any acquisition. Best
    effort: never raises, so that the retry is always attempted (and tells what is wrong)."""
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("recover connections", station.recover),
        ("abort read SMU acquisition", station.read_smu.stop_buffer),
    ]
    for label, step in steps:
        try:
            step()
        except Exception as exc:  # the retry reports what matters
            log.warning("recovery: %s failed: %s", label, describe_failure(exc))


@dataclass
class DieRun:
    """Everything a die needs from its procedure."""

    station: Station
    store: WaferFile
    settings: CharacterisationSettings
    retry: RetryPolicy
    emit: Callable[[str, Any], None]
    should_stop: Callable[[], bool]
    max_gate_leakage_A: float
    checkpoint_interval_s: float

    def run(self, name: str, die_index: int, position: int, total: int,
            step: bool = True) -> DieOutcome:
        """Measure die `name`, the `position`-th (0-based) of `total` in this run."""
        self._event(name, "started", position, total)
        self.store.begin_die(name)
        try:
            results = self._measure(name, position, total, step)
        except StopRequested:
            reason = "aborted by the operator before the die was complete"
            self._fail(name, reason, position, total, "aborted")
            raise
        except DIE_FAILURES as exc:
            reason = str(exc) if isinstance(exc, DieCheckFailed) else describe_failure(exc)
            log.warning("%s failed: %s", name, reason)
            self._fail(name, reason, position, total, "failed", recover=True)
            return DieOutcome(name, "failed", reason,
                              instrument_failure=not isinstance(exc, DieCheckFailed))
        except BaseException as exc:
            self._fail(name, f"sweep stopped: {describe_failure(exc)}", position, total, "failed")
            raise
        for result in results:
            self.store.write_tile(name, result.reads.tile, result.reads.parallel_ohm,
                                  result.reads.antiparallel_ohm, result.classification)
        self.store.complete_die(name)
        for result in results:
            for record in row_records(die_index, result):
                self.emit("results", record)
        stats = die_stats(results)
        self._event(name, "complete", position, total, cells=stats.cells,
                    yield_fraction=stats.yield_fraction, defects=stats.defects)
        return DieOutcome(name, "complete")

    # --- the sequence ---------------------------------------------------------------------------
    def _measure(self, name: str, position: int, total: int, step: bool) -> list[Any]:
        prober = self.station.prober
        if step:
            col, row = parse_die_name(name)

            def step_to_die() -> None:
                reply = prober.step_to_die(col, row)
                if reply[:2] != (col, row):  # a garbled reply, or the wrong die: step again
                    raise InstrumentError(
                        f"prober stepped to ({reply[0]}, {reply[1]}), not {name}"
                    )

            self._call(f"step to {name}", step_to_die)
        reference: list[ContactReference] = []

        def recontact() -> None:
            recover_station(self.station)  # a restarted instrument also reads as open
            self._call("separate", prober.chuck.move_separation)
            reference[0] = self._contact(name, n_tiles)

        characteriser = DieCharacteriser(
            self.station, self.settings, self.retry,
            recover=lambda: recover_station(self.station),
            should_stop=self.should_stop,
            on_progress=lambda f: self.emit("progress", 100.0 * (position + f) / total),
            on_partial=lambda reads: self._checkpoint(name, reads),
            contact_held=lambda: contact_held(self.station, reference[0]),
            recontact=recontact,
        )
        n_tiles = len(characteriser.tile_shapes())
        reference.append(self._contact(name, n_tiles))
        results = characteriser.characterise()
        self._call("separate", prober.chuck.move_separation)
        return results

    def _contact(self, name: str, n_tiles: int) -> ContactReference:
        """Contact and check the contact (if every reading is open: separate, re-contact once,
        re-check), then the gate leakage. Returns the contact reference that the checks after
        every pass read again; as contact lost stays lost, the first of them also proves that
        the leakage was measured in contact (else the die is contacted and checked again)."""
        prober = self.station.prober
        for attempt in (1, 2):
            if self.should_stop():
                raise StopRequested("stop requested by the operator")
            self._call("contact", prober.chuck.move_contact)
            found = find_contact_reference(self.station, n_tiles, read_row=self._check_row)
            if found is not None:
                leakage_A = self._call(
                    "gate leakage check",
                    lambda: check_gate_leakage(self.station, self.max_gate_leakage_A),
                )
                log.info("%s: in contact, gate leakage %.3g A", name, leakage_A)
                return found
            log.warning("%s: contact reads open everywhere (attempt %d of 2)", name, attempt)
            # A restarted gate SMU (word lines off) also reads open: check before re-contacting.
            recover_station(self.station)
            self._call("separate", prober.chuck.move_separation)
        raise DieCheckFailed("contact reads open everywhere, also after separating and "
                             "re-contacting once")

    def _check_row(self, tile: int, row: int) -> np.ndarray:
        return self._call(
            f"contact check (tile {tile} row {row})",
            lambda: array_ops.read_row_resistance_ohm(self.station, tile, row, nplc=CHECK_NPLC),
        )

    def _checkpoint(self, name: str, reads: TileReads) -> None:
        if not self.store.checkpoint_due(self.checkpoint_interval_s):
            return  # called after every row: only prepare what gets published
        self.store.update_partial(name, reads.tile, reads.parallel_ohm, reads.antiparallel_ohm,
                                  reads.rows_done())
        self.store.checkpoint(name, min_interval_s=self.checkpoint_interval_s)

    def _fail(self, name: str, reason: str, position: int, total: int,
              status: DieStatus, recover: bool = False) -> None:
        """Safe state first, then record the failure; with ``recover`` (the sweep goes on),
        also bring the connections back for the next die."""
        try:
            self.station.safe_state()
        except Exception as exc:  # the next die (or the shutdown) will tell
            log.error("safe state after %s failed: %s", name, describe_failure(exc))
        try:
            self.store.fail_die(name, reason)
        finally:
            self._event(name, status, position, total, reason=reason)
            if recover:
                recover_station(self.station)  # an exchange may have been cut short

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        return self.retry.call(operation, what=what,
                               recover=lambda: recover_station(self.station))

    def _event(self, name: str, status: DieStatus, position: int, total: int, *,
               cells: int = 0, yield_fraction: float | None = None,
               defects: dict[str, int] | None = None, reason: str | None = None) -> None:
        event: DieEvent = {
            "die": name, "status": status, "index": position, "total": total, "cells": cells,
            "yield_fraction": yield_fraction, "defects": dict(defects or {}), "reason": reason,
        }
        self.emit(DIE_TOPIC, event)
