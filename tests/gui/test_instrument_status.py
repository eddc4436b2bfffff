"""Reading every instrument's state from the simulated station, and failing instruments."""

from __future__ import annotations

from gui.instrument_status import read_instrument_status
from labctl.station.station import Station


def test_idle_station_reads_safe(sim_config):
    _, config = sim_config
    with Station.connect(config) as station:
        status = read_instrument_status(station)
    assert status.errors == {}
    assert set(status.idn) == {"prober", "read_smu", "gate_smu", "controller"}
    assert "2450" in status.idn["read_smu"]
    assert status.prober is not None and not status.prober.in_contact
    assert all(not smu.output_on for smu in status.smus.values())
    assert status.safe


def test_contact_and_bias_show_as_unsafe(sim_config):
    sim, config = sim_config
    with Station.connect(config) as station:
        station.prober.step_to_die(3, 0)
        station.prober.chuck.move_contact()
        station.ensure_bias(nplc=0.1)
        status = read_instrument_status(station)
        assert status.prober.in_contact and status.prober.map_position == (3, 0)
        read = status.smus["read_smu"]
        assert read.output_on and read.level_V == station.limits.read_voltage_V
        assert read.compliance_A == station.limits.compliance_current_A
        assert not read.tripped
        assert not status.safe
        station.safe_state()
        assert read_instrument_status(station).safe
    assert not sim.state.in_contact


def test_an_instrument_that_stops_answering_is_reported_alone(sim_config):
    _, config = sim_config
    station = Station.connect(config)
    station.controller.adapter.close()
    try:
        status = read_instrument_status(station)
    finally:
        station.close()
    assert "controller" in status.errors
    assert status.controller is None
    assert status.prober is not None and set(status.smus) == {"read_smu", "gate_smu"}
