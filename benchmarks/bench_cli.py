"""Start-up time of the command line: ``labctl --help`` against ``python -c pass``.

Both run as fresh processes, alternated, ``--runs`` times each; the medians and their ratio are
printed (the ratio carries over between machines better than milliseconds do). Also timed:
``labctl sweep --help`` (the sweep command's parser imports PyMeasure to generate its options),
and the heavy packages that ``labctl --help`` imported (there should be none).

    python -m benchmarks.bench_cli [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: Packages that ``labctl --help`` must not import (each costs tens to hundreds of ms).
HEAVY = ("pymeasure", "pandas", "pyarrow", "numpy", "h5py", "torch", "PyQt6", "pyvisa",
         "matplotlib", "rich", "drivers", "procedures")
#: The target of issue 13: ``labctl --help`` under 150 ms.
TARGET_MS = 150.0


def labctl_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("labctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "labctl.cli.main"]


def _wall_s(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def heavy_imports() -> list[str]:
    """The :data:`HEAVY` packages in ``sys.modules`` after ``labctl --help`` ran in-process."""
    code = (
        "import contextlib, io, sys\n"
        "from labctl.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True)
    return result.stdout.split()


def run(runs: int = 15) -> dict[str, float]:
    """Median wall times (ms) of the three commands and the ratio of --help to python."""
    labctl = labctl_command()
    commands = {
        "python_pass_ms": [sys.executable, "-c", "pass"],
        "labctl_help_ms": [*labctl, "--help"],
        "labctl_sweep_help_ms": [*labctl, "sweep", "--help"],
    }
    for argv in commands.values():  # warm the file cache
        _wall_s(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(_wall_s(argv) * 1000)
    figures = {name: statistics.median(values) for name, values in times.items()}
    figures["help_over_python_ratio"] = figures["labctl_help_ms"] / figures["python_pass_ms"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (median)")
    args = parser.parse_args()
    figures = run(args.runs)
    print(f"python -c pass       {figures['python_pass_ms']:7.1f} ms (median of {args.runs})")
    print(f"labctl --help        {figures['labctl_help_ms']:7.1f} ms  = "
          f"{figures['help_over_python_ratio']:.2f} x python -c pass  "
          f"(target < {TARGET_MS:.0f} ms: "
          f"{'met' if figures['labctl_help_ms'] < TARGET_MS else 'NOT met'})")
    print(f"labctl sweep --help  {figures['labctl_sweep_help_ms']:7.1f} ms (imports PyMeasure)")
    heavy = heavy_imports()
    print(f"heavy packages imported by labctl --help: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
