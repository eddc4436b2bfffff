"""Bad-input harness: seeded random and mutated inputs for every parser labctl has.

Each parser gets inputs made from random tokens and from mutations of a valid input (spans
deleted, duplicated, replaced, truncated, bytes flipped). An input is *accepted* (it parsed), or
*refused* with a LabctlError whose message is one line, or a *crash* (any other exception, a
multi-line error, an exit status other than 0 or 2). A *partial write* is a file left changed
or created by an input that was refused. docs/reliability.md reports the counts of
``benchmarks/bench_reliability.py``; the tests run the same fuzzers with fewer inputs.

:func:`crafted_files` is a corpus of wafer files made to attack the reader (external storage,
links, huge declarations, bad values); ``python -m benchmarks.reliability_inputs`` prints how
``labctl inspect`` refuses each (docs/reliability.md, "Untrusted files").
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from labctl.cli.main import main as cli_main
from labctl.core.errors import LabctlError
from labctl.core.roles import Role
from labctl.sim.faults import parse_fault_spec
from labctl.sim.servers.array_controller import ArrayControllerInstrument
from labctl.sim.servers.keithley2450 import Keithley2450Instrument
from labctl.sim.servers.scpi import DEVICE_SPECIFIC_ERROR, ScpiInstrument
from labctl.sim.servers.velox import VeloxInstrument
from labctl.sim.state import StationState
from labctl.sim.wafer import VirtualWafer
from labctl.station.config import SIM_STATION_FILE, load_station_config
from labctl.store.reader import open_wafer
from labctl.store.validate import MAX_LINKS
from labctl.store.wafer_file import WaferFile, resolve_die_selection

Rng = np.random.Generator


@dataclass
class Tally:
    """Outcomes of one parser's inputs."""

    name: str
    tried: int = 0
    accepted: int = 0
    refused: int = 0
    crashes: list[str] = field(default_factory=list)
    partial_writes: list[str] = field(default_factory=list)

    def judge(self, action: Callable[[], object], label: str = "") -> bool:
        """Run ``action`` on one input; True if it was accepted."""
        self.tried += 1
        try:
            action()
        except LabctlError as exc:
            if "\n" in str(exc).strip() or not str(exc).strip():
                self.crashes.append(f"{label}: multi-line or empty error: {str(exc)[:120]!r}")
            else:
                self.refused += 1
            return False
        except Exception as exc:  # what the acceptance counts as a crash
            self.crashes.append(f"{label}: {type(exc).__name__}: {str(exc)[:160]}")
            return False
        self.accepted += 1
        return True

    def line(self) -> str:
        return (f"{self.name:<22} {self.tried:>6} tried {self.accepted:>6} accepted "
                f"{self.refused:>6} refused {len(self.crashes):>3} crashes "
                f"{len(self.partial_writes):>3} partial writes")


# --------------------------------------------------------------------------- mutations


def mutate(data: bytes, rng: Rng) -> bytes:
    """One random damage of ``data``."""
    n = len(data)
    kind = int(rng.integers(0, 7))
    i, j = sorted(int(x) for x in rng.integers(0, n + 1, 2)) if n else (0, 0)
    if kind == 0:  # truncate
        return data[:i]
    if kind == 1:  # delete a span
        return data[:i] + data[j:]
    if kind == 2:  # duplicate a span
        return data[:j] + data[i:j] + data[j:]
    if kind == 3 and n:  # flip a few bits
        out = bytearray(data)
        for k in rng.integers(0, n, int(rng.integers(1, 9))):
            out[int(k)] ^= 1 << int(rng.integers(0, 8))
        return bytes(out)
    if kind == 4:  # insert random bytes
        return data[:i] + rng.bytes(int(rng.integers(1, 16))) + data[i:]
    if kind == 5:  # replace a span with a token from the input itself
        k = int(rng.integers(0, n + 1))
        return data[:i] + data[k : k + int(rng.integers(0, 12))] + data[j:]
    return rng.bytes(int(rng.integers(0, 64)))  # garbage


def token_soup(tokens: list[str], rng: Rng, max_tokens: int = 12) -> str:
    count = int(rng.integers(0, max_tokens + 1))
    return "".join(tokens[int(rng.integers(0, len(tokens)))] for _ in range(count))


def text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- parsers


SPEC_TOKENS = [
    Role.READ_SMU, Role.GATE_SMU, Role.PROBER, Role.CONTROLLER, "smu", "all", "station", "garble",
    "timeout", "delay", "delay_s", "drop", "refuse", "restart", "error", "compliance",
    "contact_loss", "seed", ":", ";", ",", "=", "0", "0.01", "1", "1e-3", "-0.5", "2", "nan",
    "inf", " ", "x", "==", "1e400", "7", "",
]


def fuzz_fault_spec(n: int, rng: Rng, base: str) -> Tally:
    tally = Tally("fault SPEC")
    for k in range(n):
        spec = (token_soup(SPEC_TOKENS, rng) if k % 2
                else text(mutate(base.encode(), rng)))
        tally.judge(lambda spec=spec: parse_fault_spec(spec), repr(spec)[:60])
    return tally


def fuzz_station_file(n: int, rng: Rng, directory: Path) -> Tally:
    tally = Tally("station TOML")
    base = SIM_STATION_FILE.read_bytes()
    for k in range(n):
        path = directory / f"station-{k}.toml"
        path.write_bytes(mutate(base, rng) if k % 4 else _retyped_toml(base, rng))
        tally.judge(lambda path=path: load_station_config(path), path.name)
        path.unlink()
    return tally


def _retyped_toml(base: bytes, rng: Rng) -> bytes:
    """Replace one value of the station file by a value of another type or range."""
    lines = base.decode().splitlines()
    candidates = [i for i, line in enumerate(lines) if "=" in line and not line.startswith("#")]
    i = candidates[int(rng.integers(0, len(candidates)))]
    key = lines[i].split("=", 1)[0]
    values = ['"x"', "-1", "0", "1e400", "true", "[1, 2]", "{a = 1}", '""', "nan", "1e-12",
              "5.0", "2024-01-01", '"velox"', '"TCPIP::host::1::SOCKET"']
    lines[i] = f"{key}= {values[int(rng.integers(0, len(values)))]}"
    return "\n".join(lines).encode()


DIE_TOKENS = ["die_", "03", "00", "_", ",", " ", "all", "die_03_00", "die_07_03", "die_00_00",
              "-1", "x", "", "ALL", "die_3_0", ",,"]


def fuzz_die_selection(n: int, rng: Rng) -> Tally:
    tally = Tally("die selection")
    for _ in range(n):
        selection = token_soup(DIE_TOKENS, rng)
        tally.judge(lambda s=selection: resolve_die_selection(s), repr(selection)[:60])
    return tally


SWEEP_OPTIONS: list[tuple[str, list[str]]] = [
    ("--seed", ["0", "3", "-1", "x", "1e3", "99999999999999999999"]),
    ("--dies", ["all", "die_03_00", "die_00_00", "", ",", "die_03_00,die_03_00", "x"]),
    ("--cycles", ["1", "0", "-3", "1001", "2.5", "a"]),
    ("--read-voltage", ["0.1", "0.3", "-0.1", "nan", "inf", "0", "abc"]),
    ("--write-voltage", ["0.8", "1.5", "-1", "nan", "3"]),
    ("--write-width", ["5e-8", "0", "1", "-1e-9", "nan"]),
    ("--nplc", ["0.1", "0", "50", "nan", "-1"]),
    ("--batching", ["tile", "row", "cell", ""]),
    ("--retries", ["3", "0", "11", "x"]),
    ("--retry-backoff", ["0.5", "-1", "61", "nan"]),
    ("--max-gate-leakage", ["1e-6", "0", "-1", "nan"]),
    ("--checkpoint-interval", ["30", "-1", "4000", "nan"]),
    ("--max-consecutive-failures", ["3", "0", "37"]),
    ("--wafer-id", ["W1", "", "x" * 300]),
    ("--faults", ["garble=0.01", "garble=2", "bogus", "read_smu:error=0.1", ""]),
]


def fuzz_sweep_cli(n: int, rng: Rng, directory: Path) -> Tally:
    """`labctl sweep --sim --dry-run` with random options: exit 0 or 2, one error line, no file.
    (Every run is a dry run: a valid combination prints its plan; a real sweep is not started.)"""
    tally = Tally("sweep CLI options")
    out = directory / "cli" / "wafer.h5"
    out.parent.mkdir(exist_ok=True)
    for _ in range(n):
        argv = ["sweep", "--sim", "--dry-run", "--out", str(out)]
        for k in rng.choice(len(SWEEP_OPTIONS), int(rng.integers(1, 5)), replace=False):
            option, values = SWEEP_OPTIONS[int(k)]
            argv += [option, values[int(rng.integers(0, len(values)))]]
        if rng.random() < 0.2:
            argv.append("--resume")
        before = _tree(out.parent)
        tally.judge(lambda argv=argv: _cli_outcome(argv), " ".join(argv[4:])[:100])
        if _tree(out.parent) != before:
            tally.partial_writes.append(" ".join(argv))
    return tally


def _cli_outcome(argv: list[str]) -> None:
    """Run ``labctl argv`` in-process: exit 0 passes; exit 2 with one error line (LabctlError,
    or argparse's usage line followed by its one error line) is a refusal; anything else is a
    crash."""
    err = io.StringIO()
    usage_error = False
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli_main(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
            usage_error = True
    lines = err.getvalue().strip().splitlines()
    if status == 0:
        return
    one_line = len(lines) == 1 or (usage_error and lines[0].startswith("usage:"))
    if status == 2 and lines and "error: " in lines[-1] and one_line:
        raise LabctlError(lines[-1])
    raise RuntimeError(f"exit {status}, stderr {lines[-3:]!r}")


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# --------------------------------------------------------------------------- HDF5 files


def hdf5_variants(base: Path, rng: Rng, n: int, directory: Path) -> Iterator[tuple[str, Path]]:
    """Damaged copies of the wafer file ``base``: byte-level damage and structural damage."""
    data = base.read_bytes()
    structural = _structural_damages()
    for k in range(n):
        path = directory / f"variant-{k}.h5"
        if k % 3 == 0:
            label, damage = structural[(k // 3) % len(structural)]
            shutil.copyfile(base, path)
            with h5py.File(path, "r+") as h5:
                damage(h5, rng)
        elif k % 3 == 1:
            label = "truncated"
            path.write_bytes(data[: int(rng.integers(0, len(data)))])
        else:
            label = "bytes damaged"
            path.write_bytes(mutate(data, rng))
        yield label, path


def _structural_damages() -> list[tuple[str, Callable[[h5py.File, Rng], None]]]:
    def first_tile(h5: h5py.File) -> h5py.Group:
        die = next(name for name in h5["dies"] if h5["dies"][name].attrs["status"] == "complete")
        return h5["dies"][die]["tile_0"]

    def delete_dataset(h5: h5py.File, rng: Rng) -> None:
        tile = first_tile(h5)
        names = sorted(tile)
        del tile[names[int(rng.integers(0, len(names)))]]

    def delete_root_attr(h5: h5py.File, rng: Rng) -> None:
        names = sorted(h5.attrs)
        del h5.attrs[names[int(rng.integers(0, len(names)))]]

    def newer_version(h5: h5py.File, rng: Rng) -> None:
        h5.attrs["labctl_format"] = np.int64(2 + int(rng.integers(0, 5)))

    def version_as_text(h5: h5py.File, rng: Rng) -> None:
        h5.attrs["labctl_format"] = "1"

    def bad_json(h5: h5py.File, rng: Rng) -> None:
        h5.attrs["procedure"] = "{not json"

    def unknown_status(h5: h5py.File, rng: Rng) -> None:
        h5["dies"][sorted(h5["dies"])[0]].attrs["status"] = "exploded"

    def wrong_shape(h5: h5py.File, rng: Rng) -> None:
        tile = first_tile(h5)
        del tile["defects"]
        tile.create_dataset("defects", data=np.zeros((3, 3), dtype=np.uint8))

    def wrong_dtype(h5: h5py.File, rng: Rng) -> None:
        tile = first_tile(h5)
        del tile["r_parallel"]
        tile.create_dataset("r_parallel", data=np.array([b"text"]))

    def foreign_group(h5: h5py.File, rng: Rng) -> None:
        h5["dies"].create_group("not_a_die")

    def dies_not_a_group(h5: h5py.File, rng: Rng) -> None:
        del h5["dies"]
        h5.create_dataset("dies", data=np.zeros(3))

    def delete_die_attr(h5: h5py.File, rng: Rng) -> None:
        group = h5["dies"][sorted(h5["dies"])[0]]
        names = sorted(group.attrs)
        del group.attrs[names[int(rng.integers(0, len(names)))]]

    def delete_tile(h5: h5py.File, rng: Rng) -> None:
        tile = first_tile(h5)
        del tile.parent[tile.name.rsplit("/", 1)[1]]

    return [
        ("dataset deleted", delete_dataset), ("root attribute deleted", delete_root_attr),
        ("newer format version", newer_version), ("format version as text", version_as_text),
        ("procedure not JSON", bad_json), ("unknown die status", unknown_status),
        ("dataset of wrong shape", wrong_shape), ("dataset of wrong type", wrong_dtype),
        ("foreign group in /dies", foreign_group), ("/dies not a group", dies_not_a_group),
        ("die attribute deleted", delete_die_attr), ("tile group deleted", delete_tile),
    ]


def read_everything(path: Path) -> None:
    """What inspect, report, the GUI and training do with a wafer file, in one go."""
    from labctl.reports.summary import summarize_wafer

    with open_wafer(path) as reader:
        summarize_wafer(reader)
        for name in reader.dies:
            reader.tiles(name, with_reads=True)


def fuzz_hdf5(n: int, rng: Rng, base: Path, directory: Path) -> tuple[Tally, Tally, Tally]:
    """Read, ``labctl inspect`` and resume every damaged variant; refusals change nothing."""
    reading, inspect, resume = Tally("HDF5: read"), Tally("HDF5: labctl inspect"), \
        Tally("HDF5: resume")
    for label, path in hdf5_variants(base, rng, n, directory):
        reading.judge(lambda path=path: read_everything(path), label)
        inspect.judge(lambda path=path: _cli_outcome(["inspect", "--json", str(path)]), label)
        before = _tree(directory)

        def reopen(path: Path = path) -> None:
            WaferFile.open_for_resume(path).close()

        if not resume.judge(reopen, label) and _tree(directory) != before:
            resume.partial_writes.append(label)
        path.unlink()
    return reading, inspect, resume


# --------------------------------------------------------------------------- crafted files

#: A small valid wafer file's geometry, from which every crafted file is made.
CRAFTED_SHAPES = ((12, 8), (8, 4))
CRAFTED_DIES = ("die_03_00", "die_04_00")
_TILE = "dies/die_03_00/tile_0"
#: What each file of :func:`crafted_files` is, in order.
CRAFTED_LABELS = (
    "external storage on /etc/passwd", "external storage on a FIFO",
    "200 000 x 200 000 dataset declared", "chunk larger than its dataset",
    "tile geometry 200 000 x 200 000", "NaN resistance", "-inf resistance",
    "negative resistance", "defect code 255", 'die named "die_00_02\\n"', "soft link",
    "external link", "virtual dataset", "filter other than gzip/shuffle (lzf)",
    "wrong dtype (int32 resistances)", "wrong shape vs geometry (all maps one row more)",
    f"{MAX_LINKS + 1} small datasets", "control characters in failure_reason",
    "the file itself a FIFO",
)


def crafted_files(directory: Path) -> list[tuple[str, Path]]:
    """Wafer files made to attack the reader (issue 10), each a small edit of a valid file:
    data from other files (external storage on /etc/passwd and on a FIFO, soft, external and
    virtual links), a few bytes declaring huge datasets or chunks, filters and values labctl
    never writes, a die name with a newline, shapes that disagree with the recorded geometry,
    and the file itself a FIFO. Every one must be refused in one line (exit 2), fast, with
    bounded memory (:func:`inspect_in_subprocess`)."""
    from labctl.testing.synthetic import write_synthetic_wafer

    base = write_synthetic_wafer(directory / "valid.h5", dies=list(CRAFTED_DIES),
                                 tile_shapes=CRAFTED_SHAPES)
    fifo = directory / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    rows, cols = CRAFTED_SHAPES[0]

    def replace(name: str, **create: object) -> Callable[[h5py.File], None]:
        def edit(h5: h5py.File) -> None:
            del h5[_TILE][name]
            h5[_TILE].create_dataset(name, **create)  # type: ignore[arg-type]
        return edit

    def set_cell(name: str, value: float) -> Callable[[h5py.File], None]:
        def edit(h5: h5py.File) -> None:
            data = h5[_TILE][name][()]
            data[3, 2] = value
            del h5[_TILE][name]
            h5[_TILE].create_dataset(name, data=data)
        return edit

    def link(name: str, target: object) -> Callable[[h5py.File], None]:
        def edit(h5: h5py.File) -> None:
            del h5[_TILE][name]
            h5[_TILE][name] = target
        return edit

    def virtual(h5: h5py.File) -> None:
        layout = h5py.VirtualLayout(shape=(rows, cols), dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(base), f"/{_TILE}/r_parallel", shape=(rows, cols))
        del h5[_TILE]["r_parallel"]
        h5[_TILE].create_virtual_dataset("r_parallel", layout)

    def die_renamed(h5: h5py.File) -> None:
        h5.move("dies/die_04_00", "dies/die_00_02\n")

    def shapes_off_geometry(h5: h5py.File) -> None:
        tile = h5[_TILE]
        for name in ("r_parallel", "r_antiparallel", "tmr", "defects", "write_failures",
                     "reads_parallel", "reads_antiparallel"):
            data = tile[name][()]
            axis = data.ndim - 2
            data = np.concatenate([data, np.take(data, [0], axis=axis)], axis=axis)
            del tile[name]
            tile.create_dataset(name, data=data)

    def geometry_huge(h5: h5py.File) -> None:
        h5[_TILE].attrs["rows"] = np.int64(200_000)
        h5[_TILE].attrs["cols"] = np.int64(200_000)

    def many_objects(h5: h5py.File) -> None:
        junk = h5.create_group("junk")
        one = np.zeros(1, np.uint8)
        for k in range(MAX_LINKS + 1):
            junk.create_dataset(f"d{k}", data=one)

    def escape_in_reason(h5: h5py.File) -> None:
        die = h5["dies/die_04_00"]
        die.attrs["status"] = "failed"
        die.attrs["failure_reason"] = "\x1b[2J\x1b[31mall dies good"
        for name in [n for n in die if n.startswith("tile_")]:
            del die[name]

    edits: list[tuple[str, Callable[[h5py.File], None]]] = [
        ("external storage on /etc/passwd",
         replace("defects", shape=(rows, cols), dtype=np.uint8,
                 external=[("/etc/passwd", 0, h5py.h5f.UNLIMITED)])),
        ("external storage on a FIFO",
         replace("r_parallel", shape=(rows, cols), dtype=np.float32,
                 external=[(str(fifo), 0, h5py.h5f.UNLIMITED)])),
        ("200 000 x 200 000 dataset declared",
         replace("r_parallel", shape=(200_000, 200_000), dtype=np.float32,
                 chunks=(1000, 1000), compression="gzip")),
        ("chunk larger than its dataset",
         replace("r_parallel", shape=(rows, cols), maxshape=(None, None), dtype=np.float32,
                 chunks=(4096, 4096))),
        ("tile geometry 200 000 x 200 000", geometry_huge),
        ("NaN resistance", set_cell("r_parallel", float("nan"))),
        ("-inf resistance", set_cell("r_antiparallel", float("-inf"))),
        ("negative resistance", set_cell("r_parallel", -4000.0)),
        ("defect code 255", set_cell("defects", 255)),
        ('die named "die_00_02\\n"', die_renamed),
        ("soft link", link("r_parallel", h5py.SoftLink("/dies/die_04_00/tile_0/r_parallel"))),
        ("external link", link("r_parallel", h5py.ExternalLink(str(base),
                                                               f"/{_TILE}/r_parallel"))),
        ("virtual dataset", virtual),
        ("filter other than gzip/shuffle (lzf)",
         replace("r_parallel", data=np.full((rows, cols), 4e3, np.float32), chunks=(rows, cols),
                 compression="lzf")),
        ("wrong dtype (int32 resistances)",
         replace("r_parallel", data=np.full((rows, cols), 4000, np.int32))),
        ("wrong shape vs geometry (all maps one row more)", shapes_off_geometry),
        (f"{MAX_LINKS + 1} small datasets", many_objects),
        ("control characters in failure_reason", escape_in_reason),
    ]
    files = []
    for k, (label, edit) in enumerate(edits):
        path = directory / f"crafted-{k:02d}.h5"
        shutil.copyfile(base, path)
        with h5py.File(path, "r+") as h5:
            edit(h5)
        files.append((label, path))
    files.append(("the file itself a FIFO", fifo))
    assert tuple(label for label, _ in files) == CRAFTED_LABELS
    return files


#: `labctl inspect FILE` in a fresh interpreter that prints its own peak RSS (kB) on stdout:
#: VmHWM of /proc/self/status where there is one (getrusage's ru_maxrss survives exec, so a
#: child of a big process, e.g. pytest, would report its parent's size), else ru_maxrss.
_INSPECT_SCRIPT = """
import resource, sys
from labctl.cli.main import main
status = main(['inspect', sys.argv[1]])
peak_kB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open('/proc/self/status') as f:
        peak_kB = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))
except (OSError, StopIteration):
    pass
print(peak_kB, flush=True)
sys.exit(status)
"""


@dataclass
class InspectOutcome:
    """`labctl inspect` of one file, seen from outside: status, stderr lines, time, memory."""

    status: int
    stderr_lines: list[str]
    wall_s: float
    peak_rss_MB: float

    @property
    def refused_in_one_line(self) -> bool:
        return (self.status == 2 and len(self.stderr_lines) == 1
                and self.stderr_lines[0].startswith("labctl: error: "))


def inspect_in_subprocess(path: Path, timeout_s: float = 30.0) -> InspectOutcome:
    """Run `labctl inspect path` in its own process (a hang ends at `timeout_s`: status -9)."""
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", _INSPECT_SCRIPT, str(path)],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return InspectOutcome(-9, ["timed out"], time.perf_counter() - start, float("nan"))
    wall_s = time.perf_counter() - start
    out = done.stdout.strip().splitlines()
    peak = int(out[-1]) / 1024 if out and out[-1].isdigit() else float("nan")
    return InspectOutcome(done.returncode, done.stderr.strip().splitlines(), wall_s, peak)


def crafted_report(directory: Path) -> list[tuple[str, Path, InspectOutcome]]:
    """:func:`inspect_in_subprocess` of every :func:`crafted_files` file, and of the valid one
    (the baseline of time and memory: interpreter start and imports included)."""
    files = [("valid file (baseline)", directory / "valid.h5"), *crafted_files(directory)]
    return [(label, path, inspect_in_subprocess(path)) for label, path in files]


# --------------------------------------------------------------------------- weight files


def fuzz_weights(n: int, rng: Rng, directory: Path) -> Tally:
    """labctl.training.weights_io.load_weights on damaged weight files (only DataFormatError
    may come out)."""
    import torch

    from labctl.training.network import BinaryNetwork
    from labctl.training.weights_io import WeightMetadata, load_weights, save_weights

    tally = Tally("weight files")
    base = directory / "base.safetensors"
    save_weights(base, BinaryNetwork((6, 4, 3), generator=torch.Generator().manual_seed(0)),
                 WeightMetadata(mode="ideal", seed=1, layer_sizes=(6, 4, 3)))
    data = base.read_bytes()
    for k in range(n):
        path = directory / f"weights-{k}.safetensors"
        path.write_bytes(_retyped_weight_header(data, rng) if k % 3 == 0 else mutate(data, rng))
        tally.judge(lambda path=path: load_weights(path), f"variant {k}")
        path.unlink()
    return tally


def _retyped_weight_header(data: bytes, rng: Rng) -> bytes:
    """Change one value of the labctl metadata JSON inside the safetensors header."""
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    meta = json.loads(header["__metadata__"]["labctl"])
    key = sorted(meta)[int(rng.integers(0, len(meta)))]
    values: list[object] = [None, "x", -1, 0, 1.5, [], {}, [6, -4, 3], [6, 4], [1e9, 2],
                            "hardware-aware", 99, True]
    meta[key] = values[int(rng.integers(0, len(values)))]
    header["__metadata__"]["labctl"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + size :]


# --------------------------------------------------------------------------- protocols


def protocol_lines(rng: Rng, headers: list[str], n: int) -> Iterator[str]:
    params = ["", " 0", " 1", " -1", " 1e3", " nan", " ON", " AP", " P", " 1010", ' "x"', " ,",
              " 0,1", " MAX", " 1e-12", " 195", " 196", " 99999999999", " 'defbuffer1'"]
    for _ in range(n):
        if rng.random() < 0.15:  # garbage bytes; the transport splits lines at \n
            yield text(rng.bytes(int(rng.integers(0, 40)))).replace("\n", " ")
            continue
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            header = headers[int(rng.integers(0, len(headers)))]
            if rng.random() < 0.3:
                header = header.lower()
            parts.append(header + ("?" if rng.random() < 0.3 else "")
                         + "".join(params[int(rng.integers(0, len(params)))]
                                   for _ in range(int(rng.integers(0, 3)))))
        yield ";".join(parts)


CONTROLLER_HEADERS = ["*IDN", "*RST", "*CLS", "*OPC", "*STB", "SYST:ERR", "NTIL", "GEOM", "TILE",
                      "ROW", "COL", "PULS:AMPL", "PULS:WIDT", "WRIT:CELL", "WRIT:ROW",
                      "WRIT:TILE", "ROUT", "SCAN:MODE", "SCAN:RES", "SCAN:IDX", "INP:VOLT",
                      "INP", "DESEL", "BOGUS", ":ROUT:STAT", "SYST:ERR:COUN"]
SMU_HEADERS = ["*IDN", "*RST", ":SOUR:FUNC", ":SOUR:VOLT:LEV", ":SOUR:VOLT:ILIM", ":OUTP",
               ":READ", ":TRAC:CLE", ":TRAC:POIN", ":TRAC:ACT", ":TRIG:LOAD", ":INIT", ":ABOR",
               ":TRAC:DATA", ":TRAC:STAT:AVER", ":SENS:CURR:NPLC", "SYST:ERR", ":FORM:DATA",
               "LEV", "ILIM:TRIP", ":SOUR:VOLT:ILIM:TRIP", ":MEAS:CURR"]
PROBER_HEADERS = ["*IDN?", "StepFirstDie", "StepNextDie", "ReadMapPosition", "MoveChuckContact",
                  "MoveChuckSeparation", "ReadChuckPosition", "SetChuckIndex", "MoveChuck",
                  "MoveChuckIndex", "ReadChuckIndex", "IsAppRegistered", "Bogus"]


def fuzz_protocols(n: int, rng: Rng) -> list[Tally]:
    """Random lines to the emulated controller, read SMU and prober: a reply or nothing, never
    an exception, never an emulator fault (``-300`` in the error queue)."""
    state = StationState(VirtualWafer(0))
    tallies = []
    instruments: list[tuple[str, object, list[str]]] = [
        ("controller protocol", ArrayControllerInstrument(state, serial="F"), CONTROLLER_HEADERS),
        ("SMU SCPI", Keithley2450Instrument(state, Role.READ_SMU, serial="F"), SMU_HEADERS),
        ("prober SCI", VeloxInstrument(state, serial="F"), PROBER_HEADERS),
    ]
    for name, instrument, headers in instruments:
        tally = Tally(name)
        for line in protocol_lines(rng, headers, n):
            tally.judge(lambda line=line, inst=instrument: _answer(inst, line), repr(line)[:60])
        tallies.append(tally)
    return tallies


_SCI_REPLY = re.compile(r"^(\d+): ")


def _answer(instrument: object, line: str) -> None:
    with instrument.lock:  # type: ignore[attr-defined]
        reply = instrument.handle_line(line)  # type: ignore[attr-defined]
    if isinstance(instrument, ScpiInstrument):
        entries = []
        while len(instrument.errors):
            entries.append(instrument.errors.pop())
        if any(entry.startswith(f"{DEVICE_SPECIFIC_ERROR},") for entry in entries):
            raise RuntimeError(f"emulator fault for {line[:60]!r}: {entries}")
        if entries:
            raise LabctlError(entries[0])
        return
    if reply is None or reply.startswith("FormFactor") or reply in ("0", "1"):
        return
    code = _SCI_REPLY.match(reply + " ")
    if code is None:
        raise RuntimeError(f"prober reply without an SCI code: {reply[:60]!r}")
    if code.group(1) != "0":
        raise LabctlError(reply)


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="labctl-fuzz-") as name:
        yield Path(name)


def refusal_time_s(path: Path) -> float:
    """Seconds :func:`read_everything` takes to refuse `path` in this process (inf if it
    accepts it)."""
    start = time.perf_counter()
    try:
        read_everything(path)
    except LabctlError:
        return time.perf_counter() - start
    return float("inf")


if __name__ == "__main__":  # python -m benchmarks.reliability_inputs: the crafted-file table
    with scratch_directory() as scratch:
        print("| crafted file | exit | stderr lines | `labctl inspect` (process) | peak memory "
              "| refusal in-process |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, path, outcome in crafted_report(scratch):
            skip = "FIFO" in name or name.startswith("valid")
            in_process = "-" if skip else f"{1000 * refusal_time_s(path):.1f} ms"
            print(f"| {name} | {outcome.status} | {len(outcome.stderr_lines)} | "
                  f"{outcome.wall_s:.2f} s | {outcome.peak_rss_MB:.0f} MB | {in_process} |")
            if name != "valid file (baseline)" and not outcome.refused_in_one_line:
                print(f"NOT REFUSED IN ONE LINE: {name}: {outcome.stderr_lines[-3:]}")
