"""Fault injection in the emulated instruments, seen from a raw TCP client: each fault of the
SPEC does what docs/reliability.md says, and the station counts it."""

from __future__ import annotations

import numpy as np
import pytest
from sim_fixtures import RawClient

from labctl.core.errors import ConfigError
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.sim.faults import PROBER_ERROR_REPLY
from labctl.sim.params import SimParams

NO_SHORTS = SimParams(gross_short_probability=0.0)


def _sim(faults: str) -> SimStationServer:
    return start_sim_station(seed=3, params=NO_SHORTS, faults=faults)


def _contact(client: RawClient, col: int = 3, row: int = 0) -> None:
    assert client.query(f"StepNextDie {col} {row}") == f"0: {col} {row} 0 1"
    assert client.query("MoveChuckContact") == "0: 0.0"


def _bias_and_route(raw: dict[str, RawClient]) -> None:
    raw["gate_smu"].command(":SOUR:VOLT:ILIM 0.01;:SOUR:VOLT:LEV 1.2;:OUTP ON")
    raw["read_smu"].command(":SOUR:VOLT:ILIM 0.01;:SOUR:VOLT:LEV 0.1;:OUTP ON")
    raw["controller"].command("TILE 1;ROW 0;ROUT ON;SCAN:MODE TILE;SCAN:RES")


def _clients(sim: SimStationServer) -> dict[str, RawClient]:
    return {role: RawClient(resource) for role, resource in sim.resources.items()}


def test_lost_replies_time_out_and_are_counted() -> None:
    with _sim("controller:timeout=1") as sim:
        client = RawClient(sim.resources["controller"])
        client.write("*IDN?")
        client.expect_silence(0.2)
        client.write("TILE 1")  # commands still execute
        counts = sim.fault_counts()["controller"]
        assert counts.injected == {"timeout": 1} and counts.faulty_replies == 1
        assert sim.state.controller.tile in (0, 1)
        client.close()


def test_a_delayed_reply_arrives_late_and_in_order() -> None:
    with _sim("prober:delay=1,delay_s=0.3") as sim:
        client = RawClient(sim.resources["prober"])
        client.write("*IDN?")
        client.expect_silence(0.1)
        assert client.readline().startswith("FormFactor")  # then it arrives
        client.close()


def test_garbled_replies_differ_from_the_real_ones() -> None:
    with _sim("gate_smu:garble=1") as sim:
        client = RawClient(sim.resources["gate_smu"])
        replies = {client.query("*IDN?") for _ in range(20)}
        assert "KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b" not in replies
        assert len(replies) > 5
        client.close()


def test_prober_error_codes_do_not_execute_the_command() -> None:
    with _sim("prober:error=1") as sim:
        client = RawClient(sim.resources["prober"])
        assert client.query("MoveChuckContact") == PROBER_ERROR_REPLY
        assert sim.state.prober.height == "separation"
        assert client.query("*IDN?").startswith("FormFactor")  # 488.2 commands are exempt
        client.close()


def test_a_dropped_connection_loses_its_line() -> None:
    with _sim("controller:drop=1") as sim:
        client = RawClient(sim.resources["controller"])
        client.write("TILE 1")
        with pytest.raises((ConnectionError, OSError)):
            client.readline()
        assert sim.state.controller.tile == 0
        assert sim.fault_counts()["controller"].injected == {"drop": 1}


def test_a_refused_connection_is_reset_at_once() -> None:
    with _sim("read_smu:refuse=1") as sim:
        client = RawClient(sim.resources["read_smu"])
        with pytest.raises((ConnectionError, OSError)):
            client.query("*IDN?")
        assert sim.fault_counts()["read_smu"].injected == {"refuse": 1}


def test_a_restart_forgets_the_settings_and_closes_every_connection() -> None:
    with _sim("read_smu:restart=1") as sim:
        smu = sim.state.smus["read_smu"]
        smu.output_on, smu.source_voltage_V, smu.current_limit_A = True, 0.1, 0.01
        other = RawClient(sim.resources["read_smu"])
        trigger = RawClient(sim.resources["read_smu"])
        trigger.write(":SOUR:VOLT:LEV 0.15")  # lost with the restart
        with pytest.raises((ConnectionError, OSError)):
            trigger.readline()
        smu = sim.state.smus["read_smu"]
        assert not smu.output_on and smu.source_voltage_V == 0.0  # power-on defaults
        assert smu.current_limit_A == pytest.approx(105e-6)
        with pytest.raises((ConnectionError, OSError)):
            other.readline()  # the other connection was closed too
        assert sim.fault_counts()["read_smu"].injected == {"restart": 1}


def _tile_currents_A(sim: SimStationServer, raw: dict[str, RawClient]) -> np.ndarray:
    _contact(raw["prober"])
    _bias_and_route(raw)
    raw["read_smu"].write(':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 1000;:INIT;*WAI')
    data = raw["read_smu"].query(':TRAC:DATA? 1, 1000, "defbuffer1", READ')
    return np.abs(np.array(data.split(","), dtype=float))


def test_contact_lost_in_the_middle_of_an_acquisition() -> None:
    with start_sim_station(seed=3, params=NO_SHORTS) as sim:
        clean = _tile_currents_A(sim, _clients(sim))
    with _sim("contact_loss=1") as sim:
        raw = _clients(sim)
        lost = _tile_currents_A(sim, raw)
        k = int(np.argmax(lost != clean)) if (lost != clean).any() else lost.size
        assert k < lost.size  # the contact was lost during this acquisition
        np.testing.assert_array_equal(lost[:k], clean[:k])  # good readings up to there
        assert (lost[k:] < 1e-9).all()  # open circuit from there on
        assert (clean[k:] > 1e-8).any()
        assert sim.state.contact_lost and not sim.state.in_contact
        assert raw["prober"].query("ReadChuckPosition Y Z").endswith(" 0.0")  # prober unaware
        assert raw["prober"].query("MoveChuckSeparation") == "0: -300.0"
        assert not sim.state.contact_lost  # any chuck motion re-seats the probes
        for client in raw.values():
            client.close()


def test_a_current_spike_trips_the_compliance() -> None:
    with _sim("read_smu:compliance=1") as sim:
        raw = _clients(sim)
        _contact(raw["prober"])
        _bias_and_route(raw)
        raw["read_smu"].write(':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 100;:INIT;*WAI')
        data = raw["read_smu"].query(':TRAC:DATA? 1, 100, "defbuffer1", READ')
        readings = np.array(data.split(","), dtype=float)
        assert np.count_nonzero(np.isclose(readings, 0.01)) == 1  # clamped at the limit
        assert raw["read_smu"].query(":SOUR:VOLT:ILIM:TRIP?") == "1"
        for client in raw.values():
            client.close()


def test_an_empty_spec_injects_nothing_and_a_bad_one_starts_nothing() -> None:
    with start_sim_station(seed=3, faults="") as sim:
        assert all(server.faults is None for server in sim.servers.values())
        assert sim.fault_counts()["prober"].lines == 0
    with pytest.raises(ConfigError, match="unknown setting"):
        start_sim_station(seed=3, faults="read_smu:bogus=1")
