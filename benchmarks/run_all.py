"""Run every benchmark script in turn (`make bench`); each prints its own figures."""

from __future__ import annotations

import importlib
import sys

#: Benchmark modules, each with a `main()` that parses its own (default) arguments.
BENCHMARKS = (
    "benchmarks.bench_cli",
    "benchmarks.bench_visa",
    "benchmarks.bench_sweep",
    "benchmarks.bench_training",
    "benchmarks.bench_reliability",
    "benchmarks.bench_study",
)


def main() -> None:
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        print(f"== {name}", flush=True)
        saved_argv = sys.argv
        sys.argv = [name]
        try:
            module.main()
        finally:
            sys.argv = saved_argv


if __name__ == "__main__":
    main()
