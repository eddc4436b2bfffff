"""Render the operator window with a finished simulated wafer and write PNGs to docs/images/.

Run under a real X server: ``make screenshots`` runs
``xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python tools/screenshots.py``.
Steps: start the embedded simulated station, sweep all 36 dies into a wafer file (or reuse one
given with --wafer), open the window on it, and save:

* gui-main.png      wafer map by status, a die's heatmaps and histograms, run control
* gui-yield.png     wafer map coloured by yield, instruments panel
* gui-live.png      a sweep in progress: the measured die filling in row by row
* gui-training.png  training results: a quick `labctl train --mode all` run started from the
                    Training tab (or --results results.json|summary.json; --no-train skips it)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WINDOW_SIZE = (1680, 1000)


def sweep_wafer(config: object, path: Path) -> None:
    """All 36 dies of the simulated wafer into `path` (tile-batched: the fast way)."""
    from labctl.services.sweep.runner import ProcedureRunner
    from labctl.station.station import Station
    from procedures.wafer_sweep import WaferSweepProcedure

    procedure = WaferSweepProcedure()
    procedure.set_parameters({"dies": "all", "batching": "tile", "checkpoint_interval": 3600.0,
                              "output_file": str(path)})
    with Station.connect(config) as station:  # type: ignore[arg-type]
        procedure.station = station
        ProcedureRunner(procedure).run()


def wait_until(app: object, condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()  # type: ignore[attr-defined]
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--seed", type=int, default=1, help="simulated wafer seed (default 1)")
    parser.add_argument("--wafer", type=Path, help="reuse this finished wafer file")
    parser.add_argument("--results", type=Path, help="results.json / summary.json to show")
    parser.add_argument("--no-train", action="store_true",
                        help="no quick training run (no gui-training.png unless --results)")
    args = parser.parse_args(argv)

    import numpy as np
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication

    from gui.app import MainWindow
    from gui.run_control import RunState
    from labctl.sim.embedded import start_sim_station
    from labctl.station.config import sim_station_config

    app = QApplication.instance() or QApplication(["labctl-screenshots"])
    print(f"Qt platform: {app.platformName()}")  # type: ignore[attr-defined]
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="labctl-screenshots-"))
    with start_sim_station(seed=args.seed) as sim:
        config = sim_station_config(sim.resources)
        wafer = args.wafer
        if wafer is None:
            wafer = workdir / f"sim-seed{args.seed}.h5"
            started = time.monotonic()
            sweep_wafer(config, wafer)
            print(f"swept 36 dies into {wafer} in {time.monotonic() - started:.1f} s")
        window = MainWindow(config, wafer, ["--sim", "--seed", str(args.seed)])
        window.resize(*WINDOW_SIZE)
        window.show()
        wait_until(app, lambda: window.instruments.last_status is not None, 10)

        def save(name: str) -> None:
            wait_until(app, lambda: False, 0.3)  # let layouts and plots settle
            path = args.out / name
            window.grab().save(str(path))
            print(f"wrote {path}")

        snapshot = window.snapshot
        assert snapshot is not None
        # the die with the most defects shows every defect colour
        def defect_count(die: str) -> int:
            stats = snapshot.summaries[die].stats
            return sum(stats.defects.values()) if stats is not None else 0

        name = max(snapshot.summaries, key=defect_count)
        window.wafer_map.select_die(name)
        window.die_view.set_tile(0)
        tile = window.die_view.current_tile()
        if tile is not None and tile.defects is not None:
            defective = np.argwhere(tile.defects != 0)
            row, col = (int(v) for v in defective[0]) if len(defective) else (0, 0)
            window.die_view.show_cell(row, col)
        window.tabs.setCurrentIndex(0)
        save("gui-main.png")

        window.wafer_map.set_color_mode("yield")
        window.tabs.setCurrentIndex(1)
        save("gui-yield.png")

        results_shown = False
        if args.results is not None:
            results_shown = window.training.load(args.results) is not None
        elif not args.no_train:
            training = window.training
            training.mode_combo.setCurrentText("all")
            training.quick_check.setChecked(True)
            training.out_edit.setText(str(workdir / "training"))
            started = time.monotonic()
            training.start_training()
            wait_until(app, lambda: not training.runner.running(), 600)
            results_shown = training.results is not None
            print(f"quick training of all modes: {time.monotonic() - started:.1f} s")
        if results_shown:
            window.wafer_map.set_color_mode("validation_error")
            window.tabs.setCurrentIndex(2)
            save("gui-training.png")

        # A live sweep on a fresh file. The simulator measures a die in about a second, too
        # fast to catch half-way, so a listener holds the sweep mid-die (in the worker thread)
        # until the window has shown the published checkpoint and been grabbed. 16.6 % of a
        # two-die run is just after the first read pass of tile 0 (reads after writing P).
        window.wafer_map.set_color_mode("status")
        window.tabs.setCurrentIndex(0)
        live = workdir / "live.h5"
        window.run_control.output_edit.setText(str(live))
        window.run_control.picker.set_selected(["die_03_01", "die_04_01"])
        window.run_control.form.set_value("cycles", 1)
        window.run_control.form.set_value("checkpoint_interval", 0.05)
        release = threading.Event()

        def hold(topic: str, record: object) -> None:
            if topic == "progress" and isinstance(record, float) and record >= 16.6:
                release.wait(30)

        window.run_control.start_button.click()
        wait_until(app, lambda: window.sweep is not None, 10)
        if window.sweep is not None:
            # runs in the sweep's own thread, so holding it keeps the die half measured
            window.sweep.progress.connect(lambda percent: hold("progress", percent),
                                          Qt.ConnectionType.DirectConnection)

        def partly_filled() -> bool:
            r_p = window.die_view.displayed_image("r_parallel")
            r_ap = window.die_view.displayed_image("r_antiparallel")
            if r_p is None or r_ap is None or window.die_view.die() != "die_03_01":
                return False
            return bool(np.isfinite(r_p).any() and np.isnan(r_ap).any())

        if wait_until(app, partly_filled, 30):
            save("gui-live.png")
        else:
            print("no partly measured die seen; gui-live.png not written", file=sys.stderr)
        window.sweep_control.abort()
        release.set()
        wait_until(app, lambda: window.run_control.state() == RunState.IDLE, 30)
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
