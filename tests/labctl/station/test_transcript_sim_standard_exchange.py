"""Byte-exact replay of a recorded station transcript (tools/transcript_to_test.py).

Transcript: tests/labctl/station/transcripts/sim_standard_exchange.jsonl
Exchange: identify, status, safe state; station 'sim'; 84 messages and replies.
Regenerate: python tools/transcript_to_test.py TRANSCRIPT --out THIS_FILE
"""

from __future__ import annotations

from pathlib import Path

from drivers.terminations import with_line_terminations
from labctl.station.config import load_station_config
from labctl.station.connection import DRIVER_CLASSES
from labctl.station.transcript import replay_standard_exchange

STATION_FILE = Path(__file__).resolve().parents[3] / 'data/stations/sim.toml'
EXCHANGE = 'identify, status, safe state'
DRIVERS = {'prober': 'velox',
 'read_smu': 'keithley2450',
 'gate_smu': 'keithley2450',
 'controller': 'array_controller',
 'read_smu_2': 'keithley2450',
 'read_smu_3': 'keithley2450',
 'read_smu_4': 'keithley2450'}
#: Per instrument: (message, reply) pairs, in the order they were recorded.
PAIRS = {'prober': [('*IDN?', 'FormFactor GmbH,Velox,SIM0003,3.70.0.0'),
               ('*IDN?', 'FormFactor GmbH,Velox,SIM0003,3.70.0.0'),
               ('ReadChuckPosition Y Z', '0: 30000.0 0.0 -300.0'),
               ('ReadMapPosition', '0: 2 0 30000.0 0.0 0 1'),
               ('MoveChuckSeparation 100', '0: -300.0'),
               ('ReadChuckPosition Y Z', '0: 30000.0 0.0 -300.0')],
    'read_smu': [('*IDN?', 'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00031,1.7.12b'),
                 ('*IDN?', 'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00031,1.7.12b'),
                 ('OUTPUT?', '0'),
                 (':SOUR:VOLT?', '0.000000E+00'),
                 (':SOUR:VOLT:ILIM?', '1.050000E-04'),
                 ('SYST:ERR?', '0,"No error"'),
                 (':ABOR', None),
                 (':SOUR:VOLT:LEV 0', None),
                 ('OUTPUT OFF', None),
                 ('OUTPUT?', '0'),
                 (':SOUR:VOLT?', '0.000000E+00')],
    'gate_smu': [('*IDN?', 'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b'),
                 ('*IDN?', 'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b'),
                 ('OUTPUT?', '0'),
                 (':SOUR:VOLT?', '0.000000E+00'),
                 (':SOUR:VOLT:ILIM?', '1.050000E-04'),
                 ('SYST:ERR?', '0,"No error"'),
                 (':ABOR', None),
                 (':SOUR:VOLT:LEV 0', None),
                 ('OUTPUT OFF', None),
                 ('OUTPUT?', '0'),
                 (':SOUR:VOLT?', '0.000000E+00')],
    'controller': [('*IDN?', 'LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0'),
                   ('*IDN?', 'LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0'),
                   ('NTIL?', '2'),
                   ('ROUT?', '0'),
                   ('TILE?', '0'),
                   ('ROW?', '0'),
                   ('COL?', '0'),
                   ('SYST:ERR?', '0,"No error"'),
                   ('DESEL', None),
                   ('ROUT?', '0')],
    'read_smu_2': [(':ABOR', None),
                   (':SOUR:VOLT:LEV 0', None),
                   ('OUTPUT OFF', None),
                   ('OUTPUT?', '0')],
    'read_smu_3': [(':ABOR', None),
                   (':SOUR:VOLT:LEV 0', None),
                   ('OUTPUT OFF', None),
                   ('OUTPUT?', '0')],
    'read_smu_4': [(':ABOR', None),
                   (':SOUR:VOLT:LEV 0', None),
                   ('OUTPUT OFF', None),
                   ('OUTPUT?', '0')]}
#: Per instrument: the bytes of every recorded message and reply (termination included).
WIRE = {'prober': [('*IDN?', '*IDN?\n'),
               ('FormFactor GmbH,Velox,SIM0003,3.70.0.0',
                'FormFactor GmbH,Velox,SIM0003,3.70.0.0\n'),
               ('*IDN?', '*IDN?\n'),
               ('FormFactor GmbH,Velox,SIM0003,3.70.0.0',
                'FormFactor GmbH,Velox,SIM0003,3.70.0.0\n'),
               ('ReadChuckPosition Y Z', 'ReadChuckPosition Y Z\n'),
               ('0: 30000.0 0.0 -300.0', '0: 30000.0 0.0 -300.0\n'),
               ('ReadMapPosition', 'ReadMapPosition\n'),
               ('0: 2 0 30000.0 0.0 0 1', '0: 2 0 30000.0 0.0 0 1\n'),
               ('MoveChuckSeparation 100', 'MoveChuckSeparation 100\n'),
               ('0: -300.0', '0: -300.0\n'),
               ('ReadChuckPosition Y Z', 'ReadChuckPosition Y Z\n'),
               ('0: 30000.0 0.0 -300.0', '0: 30000.0 0.0 -300.0\n')],
    'read_smu': [('*IDN?', '*IDN?\n'),
                 ('KEITHLEY INSTRUMENTS,MODEL 2450,SIM00031,1.7.12b',
                  'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00031,1.7.12b\n'),
                 ('*IDN?', '*IDN?\n'),
                 ('KEITHLEY INSTRUMENTS,MODEL 2450,SIM00031,1.7.12b',
                  'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00031,1.7.12b\n'),
                 ('OUTPUT?', 'OUTPUT?\n'),
                 ('0', '0\n'),
                 (':SOUR:VOLT?', ':SOUR:VOLT?\n'),
                 ('0.000000E+00', '0.000000E+00\n'),
                 (':SOUR:VOLT:ILIM?', ':SOUR:VOLT:ILIM?\n'),
                 ('1.050000E-04', '1.050000E-04\n'),
                 ('SYST:ERR?', 'SYST:ERR?\n'),
                 ('0,"No error"', '0,"No error"\n'),
                 (':ABOR', ':ABOR\n'),
                 (':SOUR:VOLT:LEV 0', ':SOUR:VOLT:LEV 0\n'),
                 ('OUTPUT OFF', 'OUTPUT OFF\n'),
                 ('OUTPUT?', 'OUTPUT?\n'),
                 ('0', '0\n'),
                 (':SOUR:VOLT?', ':SOUR:VOLT?\n'),
                 ('0.000000E+00', '0.000000E+00\n')],
    'gate_smu': [('*IDN?', '*IDN?\n'),
                 ('KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b',
                  'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b\n'),
                 ('*IDN?', '*IDN?\n'),
                 ('KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b',
                  'KEITHLEY INSTRUMENTS,MODEL 2450,SIM00032,1.7.12b\n'),
                 ('OUTPUT?', 'OUTPUT?\n'),
                 ('0', '0\n'),
                 (':SOUR:VOLT?', ':SOUR:VOLT?\n'),
                 ('0.000000E+00', '0.000000E+00\n'),
                 (':SOUR:VOLT:ILIM?', ':SOUR:VOLT:ILIM?\n'),
                 ('1.050000E-04', '1.050000E-04\n'),
                 ('SYST:ERR?', 'SYST:ERR?\n'),
                 ('0,"No error"', '0,"No error"\n'),
                 (':ABOR', ':ABOR\n'),
                 (':SOUR:VOLT:LEV 0', ':SOUR:VOLT:LEV 0\n'),
                 ('OUTPUT OFF', 'OUTPUT OFF\n'),
                 ('OUTPUT?', 'OUTPUT?\n'),
                 ('0', '0\n'),
                 (':SOUR:VOLT?', ':SOUR:VOLT?\n'),
                 ('0.000000E+00', '0.000000E+00\n')],
    'controller': [('*IDN?', '*IDN?\n'),
                   ('LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0', 'LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0\n'),
                   ('*IDN?', '*IDN?\n'),
                   ('LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0', 'LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0\n'),
                   ('NTIL?', 'NTIL?\n'),
                   ('2', '2\n'),
                   ('ROUT?', 'ROUT?\n'),
                   ('0', '0\n'),
                   ('TILE?', 'TILE?\n'),
                   ('0', '0\n'),
                   ('ROW?', 'ROW?\n'),
                   ('0', '0\n'),
                   ('COL?', 'COL?\n'),
                   ('0', '0\n'),
                   ('SYST:ERR?', 'SYST:ERR?\n'),
                   ('0,"No error"', '0,"No error"\n'),
                   ('DESEL', 'DESEL\n'),
                   ('ROUT?', 'ROUT?\n'),
                   ('0', '0\n')],
    'read_smu_2': [(':ABOR', ':ABOR\n'),
                   (':SOUR:VOLT:LEV 0', ':SOUR:VOLT:LEV 0\n'),
                   ('OUTPUT OFF', 'OUTPUT OFF\n'),
                   ('OUTPUT?', 'OUTPUT?\n'),
                   ('0', '0\n')],
    'read_smu_3': [(':ABOR', ':ABOR\n'),
                   (':SOUR:VOLT:LEV 0', ':SOUR:VOLT:LEV 0\n'),
                   ('OUTPUT OFF', 'OUTPUT OFF\n'),
                   ('OUTPUT?', 'OUTPUT?\n'),
                   ('0', '0\n')],
    'read_smu_4': [(':ABOR', ':ABOR\n'),
                   (':SOUR:VOLT:LEV 0', ':SOUR:VOLT:LEV 0\n'),
                   ('OUTPUT OFF', 'OUTPUT OFF\n'),
                   ('OUTPUT?', 'OUTPUT?\n'),
                   ('0', '0\n')]}


def test_recorded_messages_carry_the_drivers_termination() -> None:
    termination = with_line_terminations({})["write_termination"]
    for key, lines in WIRE.items():
        for message, raw in lines:
            assert raw == message + termination, (key, raw)


def test_replays_byte_for_byte() -> None:
    config = load_station_config(STATION_FILE)
    if EXCHANGE == "identify, status, safe state":
        replay_standard_exchange(config, DRIVERS, PAIRS)
        return
    from pymeasure.test import expected_protocol

    for key, pairs in PAIRS.items():
        with expected_protocol(DRIVER_CLASSES[DRIVERS[key]], list(pairs)) as driver:
            for sent, reply in pairs:  # through the driver's interlock, replies as read
                if sent is not None:
                    driver.write(sent)
                if reply is not None:
                    assert driver.adapter.read() == reply
