"""`labctl station record` and tools/transcript_to_test.py: a transcript of the simulated
station becomes a test that replays it byte for byte, and fails on any difference."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from labctl.cli.main import main
from labctl.core.errors import LabctlError
from labctl.station.transport import comm_pairs, read_transcript

ROOT = Path(__file__).resolve().parents[3]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("transcript_to_test",
                                                  ROOT / "tools" / "transcript_to_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("record") / "transcript.jsonl"
    assert main(["station", "record", "--sim", "--seed", "4", "--out", str(out)]) == 0
    return out


def test_transcript_names_every_instrument_and_its_bytes(recorded: Path) -> None:
    header, entries = read_transcript(recorded)
    assert header["exchange"] == "identify, status, safe state"
    assert set(header["drivers"]) == {"prober", "read_smu", "gate_smu", "controller",
                                      "read_smu_2", "read_smu_3", "read_smu_4"}
    assert {e["role"] for e in entries} == set(header["drivers"])
    assert all(e["bytes"] == e["message"] + "\n" for e in entries)
    assert all(e["t"] > 0 for e in entries)
    idn = comm_pairs(entries, "controller")[0]
    assert idn[0] == "*IDN?" and idn[1].startswith("LABCTL,MTJ-ARRAY-CTRL")


def test_generated_test_replays_the_recording(recorded: Path, tmp_path: Path) -> None:
    generated = tmp_path / "test_generated_replay.py"
    _tool().main([str(recorded), "--out", str(generated)])
    module = _load(generated)
    module.test_recorded_messages_carry_the_drivers_termination()
    module.test_replays_byte_for_byte()


@pytest.mark.parametrize("field", ["reply", "message"])
def test_a_changed_byte_fails_the_replay(recorded: Path, tmp_path: Path, field: str) -> None:
    lines = recorded.read_text().splitlines()
    entries = [json.loads(line) for line in lines[1:]]
    if field == "reply":  # the first identification a digit off
        k = next(i for i, e in enumerate(entries)
                 if e["role"] == "read_smu" and e["dir"] == "received")
        entries[k]["message"] = entries[k]["message"].replace("2450", "2460")
    else:  # the output switched on instead of off
        k = next(i for i, e in enumerate(entries)
                 if e["role"] == "read_smu" and e["message"] == "OUTPUT OFF")
        entries[k]["message"] = "OUTPUT ON"
    entries[k]["bytes"] = entries[k]["message"] + "\n"
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join([lines[0], *map(json.dumps, entries)]) + "\n")
    generated = tmp_path / f"test_tampered_{field}.py"
    _tool().main([str(tampered), "--out", str(generated)])
    with pytest.raises((AssertionError, LabctlError)):
        _load(generated).test_replays_byte_for_byte()


def test_during_records_a_whole_command(tmp_path: Path) -> None:
    out = tmp_path / "tour.jsonl"
    assert main(["station", "record", "--out", str(out), "--during", "tour", "--sim"]) == 0
    header, _ = read_transcript(out)
    assert header["exchange"] == "during: tour --sim" and header["status"] == 0
    generated = tmp_path / "test_tour_replay.py"
    _tool().main([str(out), "--out", str(generated)])
    _load(generated).test_replays_byte_for_byte()


def test_comm_pairs_pair_messages_with_the_replies_that_follow() -> None:
    entries = [
        {"role": "a", "dir": "sent", "message": "X"},
        {"role": "b", "dir": "sent", "message": "Y?"},
        {"role": "a", "dir": "sent", "message": "Q?"},
        {"role": "a", "dir": "received", "message": "1"},
        {"role": "a", "dir": "received", "message": "late"},
        {"role": "b", "dir": "received", "message": "2"},
    ]
    assert comm_pairs(entries, "a") == [("X", None), ("Q?", "1"), (None, "late")]
    assert comm_pairs(entries, "b") == [("Y?", "2")]
