"""Turn a station transcript (``labctl station record``) into a byte-exact protocol test.

    python tools/transcript_to_test.py TRANSCRIPT.jsonl --out tests/.../test_NAME.py
        [--station data/stations/sim.toml]

The generated module embeds, per instrument, the (message, reply) pairs PyMeasure's
``expected_protocol`` takes. A transcript of the standard exchange (identify, status, safe
state) is replayed by running that exchange through labctl's own Station and drivers against the
recorded replies (:func:`labctl.station.transcript.replay_standard_exchange`): every message the
drivers send must equal the recorded one, and every recorded reply must be read. A transcript of
a whole command (``--during``) is replayed message by message through each instrument's driver
(its interlocks included). Both check that every recorded message went out with the line
termination the drivers use. ``--station`` names the station file whose limits the drivers get.
"""

from __future__ import annotations

import argparse
import pprint
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labctl.station.transport import comm_pairs, read_transcript  # noqa: E402

TEMPLATE = '''"""Byte-exact replay of a recorded station transcript (tools/transcript_to_test.py).

Transcript: {source}
Exchange: {exchange}; station {station!r}; {count} messages and replies.
Regenerate: python tools/transcript_to_test.py TRANSCRIPT --out THIS_FILE
"""

from __future__ import annotations

from pathlib import Path

from drivers.terminations import with_line_terminations
from labctl.station.config import load_station_config
from labctl.station.connection import DRIVER_CLASSES
from labctl.station.transcript import replay_standard_exchange

STATION_FILE = {station_expr}
EXCHANGE = {exchange!r}
DRIVERS = {drivers}
#: Per instrument: (message, reply) pairs, in the order they were recorded.
PAIRS = {pairs}
#: Per instrument: the bytes of every recorded message and reply (termination included).
WIRE = {wire}


def test_recorded_messages_carry_the_drivers_termination() -> None:
    termination = with_line_terminations({{}})["write_termination"]
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
'''


def generate(transcript: Path, out: Path, station_file: Path) -> str:
    """The test module's source for ``transcript``."""
    header, entries = read_transcript(transcript)
    keys = list(header["drivers"])
    pairs = {key: comm_pairs(entries, key) for key in keys}
    wire = {key: [(e["message"], e["bytes"]) for e in entries if e["role"] == key]
            for key in keys}
    out, station_file = out.resolve(), station_file.resolve()
    try:  # inside the repository: found from the test's own place
        depth = len(out.relative_to(ROOT).parents) - 1
        station_expr = (f"Path(__file__).resolve().parents[{depth}] / "
                        f"{str(station_file.relative_to(ROOT))!r}")
    except ValueError:
        station_expr = f"Path({str(station_file)!r})"
    source = _relative(transcript)
    return TEMPLATE.format(
        source=source, exchange=header["exchange"], station=header.get("station", ""),
        count=len(entries), station_expr=station_expr,
        drivers=pprint.pformat(header["drivers"], width=96, sort_dicts=False),
        pairs=_format(pairs), wire=_format(wire),
    )


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(ROOT)
    except ValueError:
        return path


def _format(value: object) -> str:
    text = pprint.pformat(value, width=96, sort_dicts=False)
    return re.sub(r"(?m)^ ", "    ", text) if "\n" in text else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transcript", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--station", type=Path, default=ROOT / "data" / "stations" / "sim.toml")
    args = parser.parse_args(argv)
    args.out.write_text(generate(args.transcript, args.out, args.station), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
