"""Station recovery against the simulated station with injected faults: restarts noticed and the
bias re-applied, late replies never taken for the next one, dead connections failing at once,
connections reopened, identification verified, safe state on fresh connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest

from labctl.core.errors import InstrumentError, SafetyError
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.sim.faults import InstrumentFaults, RoleFaults
from labctl.sim.params import SimParams
from labctl.station import array_ops
from labctl.station.config import StationConfig, sim_station_config
from labctl.station.station import Station

PARAMS = SimParams(gross_short_probability=0.0, tile_shapes=((20, 10), (10, 4)))


def short_timeouts(config: StationConfig, timeout_s: float) -> StationConfig:
    return replace(config, instruments={
        role: replace(inst, timeout_s=timeout_s) for role, inst in config.instruments.items()
    })


@contextmanager
def bench(faults: str | None = None, timeout_s: float = 5.0,
          attempts: int = 1) -> Iterator[tuple[SimStationServer, Station]]:
    with start_sim_station(seed=3, params=PARAMS, faults=faults) as sim:
        config = short_timeouts(sim_station_config(sim.resources), timeout_s)
        with Station.connect(config, attempts=attempts) as station:
            yield sim, station


def contact(station: Station) -> None:
    station.prober.step_to_die(3, 0)
    station.prober.chuck.move_contact()


def test_a_restarted_smu_is_reconnected_and_its_bias_applied_again() -> None:
    with bench() as (sim, station):
        contact(station)
        before = array_ops.read_tile_resistance_ohm(station, 1)
        sim.servers["read_smu"].restart_instrument()  # settings lost, connection reset
        assert not sim.state.smus["read_smu"].output_on
        with pytest.raises(InstrumentError):  # the dead connection fails the next read
            array_ops.read_tile_resistance_ohm(station, 1)
        assert "reconnected read_smu" in station.recover()
        assert station.bias is None
        after = array_ops.read_tile_resistance_ohm(station, 1)  # bias re-applied first
        assert sim.state.smus["read_smu"].output_on
        conducting = before < 1e7
        assert conducting.mean() > 0.8
        np.testing.assert_allclose(after[conducting], before[conducting], rtol=0.1)


def test_a_restart_that_keeps_the_connection_is_caught_by_the_settings_check() -> None:
    with bench() as (sim, station):
        station.ensure_bias(0.1)
        assert station.bias_intact()
        sim.servers["gate_smu"].instrument.power_cycle()  # no connection dropped
        assert not station.bias_intact()
        assert station.recover() == ["bias lost: re-applied before the next measurement"]
        station.ensure_bias(0.1)
        gate = sim.state.smus["gate_smu"]
        assert gate.output_on and gate.source_voltage_V == pytest.approx(1.2)


def test_a_late_reply_is_never_taken_for_the_next_one() -> None:
    with bench(timeout_s=0.2) as (sim, station):
        late = InstrumentFaults("prober", RoleFaults(delay=1.0, delay_s=0.5), seed=0)
        sim.servers["prober"].faults = late
        with pytest.raises(InstrumentError, match="timed out"):
            station.prober.step_to_die(4, 0)
        assert station.prober.adapter.broken
        sim.servers["prober"].faults = None
        assert station.recover() == ["reconnected prober"]
        time.sleep(0.6)  # the late reply has been sent by now, to the old connection
        assert station.prober.step_to_die(5, 0) == (5, 0, 0, 1)
        assert station.prober.map_position == (5, 0)


def test_a_connection_the_instrument_closed_fails_at_once_not_after_the_timeout() -> None:
    with bench(timeout_s=300.0) as (sim, station):
        sim.servers["controller"].restart_instrument()
        with pytest.raises(InstrumentError) as info:
            station.controller.verified_tile_count()
        assert "timed out" not in str(info.value)
        assert station.controller.adapter.broken
        station.controller.adapter.reopen()
        assert station.controller.verified_tile_count() == 2


def test_draining_a_closed_connection_does_not_hang() -> None:
    with bench(timeout_s=300.0) as (sim, station):
        sim.servers["gate_smu"].restart_instrument()
        with pytest.raises(InstrumentError):
            station.gate_smu.adapter.flush_read_buffer()
        assert station.gate_smu.adapter.broken
        assert station.recover() == ["reconnected gate_smu"]


def test_refused_connections_are_opened_again() -> None:
    with bench("refuse=0.5;seed=4", attempts=4) as (sim, station):
        refused = sum(c.injected.get("refuse", 0) for c in sim.fault_counts().values())
        assert refused >= 1
        assert station.identify()["controller"].startswith("LABCTL,MTJ-ARRAY-CTRL")
    with start_sim_station(seed=3, faults="controller:refuse=1") as sim, \
            pytest.raises(InstrumentError, match=r"^controller \(TCPIP::"):
        Station.connect(sim_station_config(sim.resources), attempts=2)


def test_a_garbled_identification_is_asked_again() -> None:
    with bench("garble=0.15;seed=4", attempts=4) as (sim, station):
        idn = station.identify()
        garbled = sum(c.injected.get("garble", 0) for c in sim.fault_counts().values())
        assert garbled >= 1
    assert idn == {
        "prober": "FormFactor GmbH,Velox,SIM0003,3.70.0.0",
        "read_smu": "KEITHLEY INSTRUMENTS,MODEL 2450,SIM00031,1.7.12b",
        "gate_smu": "KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b",
        "controller": "LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0",
    }


def test_another_instrument_behind_the_resource_is_refused() -> None:
    with bench() as (sim, station):
        sim.servers["controller"].instrument.serial = "SWAPPED"
        with pytest.raises(InstrumentError, match="identifies as"):
            station.reconnect("controller")


def test_safe_state_reaches_an_instrument_whose_connection_died() -> None:
    with bench() as (sim, station):
        contact(station)
        array_ops.read_tile_resistance_ohm(station, 0)
        sim.servers["controller"].restart_instrument()
        sim.state.smus["read_smu"].output_on = True  # as if still measuring
        station.safe_state()
        assert not sim.state.smus["read_smu"].output_on
        assert not sim.state.smus["gate_smu"].output_on
        assert not sim.state.controller.routed
        assert sim.state.prober.height == "separation"


def test_the_transport_interlock_covers_writes_that_bypass_the_driver() -> None:
    with bench() as (sim, station):
        with pytest.raises(SafetyError):
            station.read_smu.adapter.write(":SOUR:VOLT:LEV 5")
        with pytest.raises(SafetyError):
            station.controller.adapter.write("PULS:WIDT 1e-7;AMPL 1.9")
        with pytest.raises(SafetyError):
            station.gate_smu.adapter.write(":SOUR:VOLT:ILIM 0.5")  # above the compliance
        assert sim.state.smus["read_smu"].source_voltage_V == 0.0
        assert sim.state.controller.pulse_amplitude_V == 0.0
        assert sim.state.smus["gate_smu"].current_limit_A == pytest.approx(105e-6)
