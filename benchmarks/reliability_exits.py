"""Exits measured from outside labctl: every stop signal and kill -9, at random moments while a
station command holds the station, then the instruments read over their own sockets.

The simulated station is served by a separate process (``labctl sim serve --port-base P``) and
reached through a station file, as a bench would be; labctl's own log is not consulted. For each
command {sweep, tour, program, validate, reproduce --quick, gui (offscreen, started on a sweep)}
and each signal {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGKILL}, ``--moments`` runs: the command is
started as a child process, the benchmark waits until the station lock is held (reproduce: its
sweep or its deploy phase, alternately), sleeps a random fraction of that phase's duration
(measured in an undisturbed calibration run; with ``--when live``, a random moment within 0.3 s
of the station first reading live), records whether the station was live just before,
sends the signal to the child's pid only, then probes every 0.1 s: read and gate SMU ``OUTPUT?``
and ``:SOUR:VOLT?``, controller ``ROUT?`` and ``INP?``, prober ``ReadChuckPosition Y Z``. A run
passes when outputs are off at 0 V, nothing is routed or driven and the chuck is separated
within 10 s of the signal.

    python benchmarks/reliability_exits.py --moments 3 [--commands tour,sweep] [--json out.json]

Also: while a sweep holds the station, a second ``labctl tour`` must be refused (exit 2, one
line naming the holder); that it sends no byte (no connection reaches the emulator) is checked
by tests/labctl/services/test_station_session.py, which counts the emulator's connections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGKILL")
COMMANDS = ("sweep", "tour", "program", "validate", "reproduce", "gui")
SAFE_WITHIN_s = 10.0
#: With ``--when live``: the random delay after the station was first seen live (s).
LIVE_DELAY_s = 0.3
PROBE_INTERVAL_s = 0.1
SWEEP_DIES = "die_03_00"
PROGRAM_DIE = "die_02_00"
#: The sweep that holds the station while a second process tries it (long enough to outlast
#: the second process's start).
HOLDING_DIES = "die_02_00,die_03_00,die_04_00,die_05_00,die_01_01,die_02_01"
#: The lock-held phases in which a command drives the station (the GUI's first phase is its
#: instruments panel polling; reproduce holds the station for its sweep, then to deploy).
DRIVING_PHASES = {"gui": (1,), "reproduce": (0, 1)}


# ---- probing the instruments over their own sockets ------------------------------------------

def ask(port: int, query: str, timeout_s: float = 2.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(query.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode(errors="replace").strip()


@dataclass
class Reading:
    read_on: bool
    read_V: float
    gate_on: bool
    gate_V: float
    routed: bool
    inputs_driven: bool
    chuck_z_um: float

    @property
    def safe(self) -> bool:
        return (not self.read_on and not self.gate_on and self.read_V == 0.0
                and self.gate_V == 0.0 and not self.routed and not self.inputs_driven
                and self.chuck_z_um < -0.5)

    @property
    def live(self) -> bool:
        return self.read_on or self.gate_on or self.routed or self.chuck_z_um > -0.5


def probe(port_base: int) -> Reading:
    chuck = ask(port_base, "ReadChuckPosition Y Z").split()
    return Reading(
        read_on=ask(port_base + 1, "OUTPUT?") == "1",
        read_V=float(ask(port_base + 1, ":SOUR:VOLT?")),
        gate_on=ask(port_base + 2, "OUTPUT?") == "1",
        gate_V=float(ask(port_base + 2, ":SOUR:VOLT?")),
        routed=ask(port_base + 3, "ROUT?") == "1",
        inputs_driven="1" in ask(port_base + 3, "INP?"),
        chuck_z_um=float(chuck[-1]),
    )


def lock_held(lock_dir: Path) -> bool:
    """Whether any station lock file is locked by some process (flock probe)."""
    assert fcntl is not None
    for path in lock_dir.glob("*.lock"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
    return False


# ---- the world: served simulator, station file, inputs ---------------------------------------

@dataclass
class World:
    work: Path
    port_base: int
    station_file: Path
    lock_dir: Path
    env: dict[str, str]
    wafer: Path = Path()
    weights: Path = Path()
    counter: int = 0

    def fresh(self, name: str) -> Path:
        self.counter += 1
        path = self.work / f"{name}-{self.counter:03d}"
        path.mkdir()
        return path


def labctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "labctl.cli.main", *args]


def command_argv(world: World, name: str) -> list[str]:
    """A fresh invocation of command ``name`` (its own output paths)."""
    st = ["--station", str(world.station_file)]
    folder = world.fresh(name)
    if name == "sweep":
        return labctl("sweep", *st, "--out", str(folder / "w.h5"), "--dies", SWEEP_DIES)
    if name == "tour":
        return labctl("tour", *st)
    if name in ("program", "validate"):
        wafer = folder / "wafer.h5"
        shutil.copyfile(world.wafer, wafer)
        if name == "program":
            target = ["--wafer", str(wafer), "--weights", str(world.weights), "--die", PROGRAM_DIE]
            return labctl("program", *st, *target, "--max-pulses", "3")
        # reproduce deploys every mode in turn: a die holds the last one's weights
        from labctl.reproduce.options import DEPLOYED_MODES

        last = world.weights.parent / DEPLOYED_MODES[-1]
        weights = last if last.is_dir() else last.with_suffix(".safetensors")
        target = ["--wafer", str(wafer), "--weights", str(weights), "--die", PROGRAM_DIE]
        return labctl("validate", *st, *target, "--in-situ-images", "40", "--restore")
    if name == "reproduce":
        return labctl("reproduce", *st, "--out", str(folder / "rep"), "--quick")
    if name == "gui":
        return [sys.executable, str(Path(__file__).resolve()), "gui-child", *st,
                "--out", str(folder / "w.h5"), "--dies", SWEEP_DIES]
    raise ValueError(name)


def start(world: World, argv: list[str]) -> subprocess.Popen[str]:
    log = open(world.work / f"child-{world.counter:03d}.log", "w")  # noqa: SIM115 - kept open
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=world.env, cwd=ROOT)


def lock_phases(world: World, child: subprocess.Popen[str], limit_s: float = 600.0
                ) -> list[tuple[float, float]]:
    """(start, end) of each period the station lock was held, until the child ends."""
    phases: list[tuple[float, float]] = []
    held_since: float | None = None
    t0 = time.monotonic()
    while child.poll() is None and time.monotonic() - t0 < limit_s:
        held = lock_held(world.lock_dir)
        now = time.monotonic() - t0
        if held and held_since is None:
            held_since = now
        elif not held and held_since is not None:
            phases.append((held_since, now))
            held_since = None
        time.sleep(0.02)
    if held_since is not None:
        phases.append((held_since, time.monotonic() - t0))
    return phases


def wait_lock_free(world: World, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not lock_held(world.lock_dir):
            return True
        time.sleep(0.05)
    return False


# ---- one trial --------------------------------------------------------------------------------

@dataclass
class Trial:
    command: str
    signal: str
    phase: int
    delay_s: float
    live_at_signal: bool | None
    safe_after_s: float | None  # None: not safe within SAFE_WITHIN_s
    returncode: int | None
    confirmed_line: bool
    final: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def run_trial(world: World, command: str, sig: str, phase: int, fraction: float,
              durations: list[float], when_live: bool = False) -> Trial:
    child = start(world, command_argv(world, command))
    log_path = world.work / f"child-{world.counter:03d}.log"
    note = ""
    seen = 0
    was_held = False
    deadline = time.monotonic() + 300.0
    while time.monotonic() < deadline:  # wait for the start of the chosen lock phase
        if child.poll() is not None:
            note = "ended before the phase"
            break
        held = lock_held(world.lock_dir)
        if held and not was_held:
            seen += 1
            if seen == phase + 1:
                break
        was_held = held
        time.sleep(0.01)
    delay_s = fraction * durations[phase]
    if when_live:  # wait until the station is live, then a short random delay
        limit = time.monotonic() + durations[phase] + 5.0
        while child.poll() is None and time.monotonic() < limit:
            with contextlib.suppress(OSError):
                if probe(world.port_base).live:
                    break
            time.sleep(0.005)
        delay_s = fraction * LIVE_DELAY_s
    time.sleep(delay_s)
    live: bool | None = None
    with contextlib.suppress(OSError):
        live = probe(world.port_base).live
    if child.poll() is None:
        os.kill(child.pid, getattr(signal, sig))
    else:
        note = note or "ended before the signal"
    signalled = time.monotonic()
    safe_after: float | None = None
    last: Reading | None = None
    while time.monotonic() - signalled <= SAFE_WITHIN_s:
        try:
            last = probe(world.port_base)
        except OSError:
            last = None
        if last is not None and last.safe:
            safe_after = time.monotonic() - signalled
            break
        time.sleep(PROBE_INTERVAL_s)
    try:
        child.wait(timeout=120)
    except subprocess.TimeoutExpired:
        note += " child still running 120 s after the signal: killed"
        child.kill()
        child.wait()
    if not wait_lock_free(world):
        note += " lock still held 30 s after the child ended"
    text = log_path.read_text(errors="replace")
    return Trial(command, sig, phase, round(delay_s, 3), live,
                 None if safe_after is None else round(safe_after, 3), child.returncode,
                 "labctl: station safe:" in text or "labctl guard: station safe" in text,
                 asdict(last) if last is not None else {}, note.strip())


# ---- setup and calibration --------------------------------------------------------------------

def serve(port_base: int, work: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    server = subprocess.Popen(labctl("sim", "serve", "--port-base", str(port_base)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env, cwd=ROOT, start_new_session=True)
    assert server.stdout is not None
    for line in server.stdout:
        if "controller" in line:
            return server
    raise RuntimeError("the simulator did not start")


def calibrate(world: World, command: str) -> list[float]:
    """Durations of the lock-held phases of an undisturbed run (and check it succeeds)."""
    child = start(world, command_argv(world, command))
    phases = lock_phases(world, child)
    child.wait()
    if child.returncode != 0:
        log = (world.work / f"child-{world.counter:03d}.log").read_text(errors="replace")
        raise RuntimeError(f"{command} failed undisturbed ({child.returncode}):\n{log[-2000:]}")
    wait_lock_free(world)
    return [end - begin for begin, end in phases]


def second_owner_check(world: World) -> dict[str, Any]:
    """A tour started while a sweep of several dies holds the station: refused, one line."""
    folder = world.fresh("held")
    sweep = start(world, labctl("sweep", "--station", str(world.station_file), "--out",
                                str(folder / "w.h5"), "--dies", HOLDING_DIES))
    deadline = time.monotonic() + 60
    while not lock_held(world.lock_dir) and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run(labctl("tour", "--station", str(world.station_file)),
                            capture_output=True, text=True, env=world.env, cwd=ROOT, timeout=120)
    still_held = sweep.poll() is None and lock_held(world.lock_dir)
    sweep.wait()
    lines = second.stderr.strip().splitlines()
    return {"returncode": second.returncode, "stderr_lines": len(lines),
            "line": lines[0] if lines else "", "first_run_returncode": sweep.returncode,
            "first_run_held_the_station_throughout": still_held}


# ---- the GUI child ------------------------------------------------------------------------------

def gui_child(argv: list[str]) -> int:
    """The operator window (offscreen) on the station, started on a sweep; ends with it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--station", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dies", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from gui.app import MainWindow, close_on_stop_signals
    from labctl.services.station_source import StationSource
    from labctl.services.sweep.plan import SweepRequest

    source = StationSource.from_file(args.station)
    app = QApplication(["labctl"])
    with source.open() as config:
        window = MainWindow(config, None, ["--station", str(args.station)], source=source)
        window.show()
        request = SweepRequest(args.out, tuple(args.dies.split(",")),
                               window.run_control.form.values())
        window.sweep_control.finished.connect(lambda *_: QTimer.singleShot(0, window.close))
        QTimer.singleShot(0, lambda: window.sweep_control.start(request))
        with close_on_stop_signals(window):
            return int(app.exec())


# ---- main ---------------------------------------------------------------------------------------

def table(trials: list[Trial]) -> str:
    lines = ["| command | " + " | ".join(SIGNALS) + " |", "|---|" + "---|" * len(SIGNALS)]
    for command in COMMANDS:
        cells = []
        for sig in SIGNALS:
            runs = [t for t in trials if t.command == command and t.signal == sig]
            if not runs:
                cells.append("–")
                continue
            ok = sum(t.safe_after_s is not None for t in runs)
            worst = max((t.safe_after_s or SAFE_WITHIN_s) for t in runs)
            live = sum(bool(t.live_at_signal) for t in runs)
            cells.append(f"{ok}/{len(runs)} safe, max {worst:.1f} s ({live} live)")
        if any(c != "–" for c in cells):
            lines.append(f"| {command} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["gui-child"]:
        return gui_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moments", type=int, default=3, help="random moments per cell")
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--signals", default=",".join(SIGNALS))
    parser.add_argument("--port-base", type=int, default=17400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--when", choices=("phase", "live"), default="phase",
                        help="phase: a random moment of the lock-held phase; live: a random "
                        f"moment within {LIVE_DELAY_s} s of the station first reading live")
    args = parser.parse_args(argv)
    if fcntl is None:
        print("POSIX only (signals, flock)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="labctl-exits-"))
    lock_dir = work / "locks"
    env = {**os.environ, "LABCTL_LOCK_DIR": str(lock_dir), "PYTHONUNBUFFERED": "1",
           "QT_QPA_PLATFORM": "offscreen"}
    sys.path.insert(0, str(ROOT))
    from labctl.testing.station_files import resources_for_port_base, write_station_file

    station_file = write_station_file(work / "station.toml",
                                      resources_for_port_base(args.port_base))
    world = World(work, args.port_base, station_file, lock_dir, env)
    server = serve(args.port_base, work, env)
    rng = random.Random(args.seed)
    commands = [c for c in args.commands.split(",") if c]
    signals_ = [s for s in args.signals.split(",") if s]
    trials: list[Trial] = []
    report: dict[str, Any] = {"moments": args.moments, "when": args.when, "work": str(work)}
    try:
        started = time.monotonic()
        durations: dict[str, list[float]] = {}
        # reproduce first: its wafer and weights are the inputs of program and validate
        order = ["reproduce", *[c for c in COMMANDS if c != "reproduce"]]
        for command in order:
            if command not in commands and not (command == "reproduce" and
                                                {"program", "validate"} & set(commands)):
                continue
            durations[command] = calibrate(world, command)
            print(f"calibrated {command}: lock held {durations[command]}", flush=True)
            if command == "reproduce":
                rep = work / f"reproduce-{world.counter:03d}" / "rep"
                world.wafer, world.weights = rep / "wafer.h5", rep / "weights" / \
                    "statistics-aware.safetensors"
        report["calibration_s"] = durations
        report["second_owner"] = second_owner_check(world)
        print(f"second owner: {report['second_owner']}", flush=True)
        for command in commands:
            for sig in signals_:
                for k in range(args.moments):
                    driving = DRIVING_PHASES.get(command, (0,))
                    phase = driving[k % len(driving)]
                    trial = run_trial(world, command, sig, phase, rng.uniform(0.05, 0.95),
                                      durations[command], when_live=args.when == "live")
                    trials.append(trial)
                    print(json.dumps(asdict(trial)), flush=True)
        report["elapsed_s"] = round(time.monotonic() - started, 1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    report["trials"] = [asdict(t) for t in trials]
    report["table"] = table(trials)
    print(report["table"])
    safe = sum(t.safe_after_s is not None for t in trials)
    print(f"{safe}/{len(trials)} safe within {SAFE_WITHIN_s:g} s; "
          f"{sum(bool(t.live_at_signal) for t in trials)} live at the signal; "
          f"max {max((t.safe_after_s or 0.0) for t in trials) if trials else 0:.2f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if safe == len(trials) else 1


if __name__ == "__main__":
    sys.exit(main())
