"""Run a study's points on Dask distributed, streaming each result into the results table.

A LocalCluster of `workers` processes with one thread each by default, or the scheduler at
`scheduler` (tcp://host:8786) of a cluster started elsewhere (docs/study.md); `workers=1`
without a scheduler runs the points one after another in this process, without Dask. Points
already in the table are skipped. Results are taken in the order they finish (`as_completed`);
a failing point is recorded as failed with its reason and the study goes on. A worker that dies
(kill -9, out of memory) has its points rescheduled by Dask on the others; the client receives
one result per point, so each point is written once.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labctl import __version__
from labctl.core.errors import ConfigError, LabctlError
from labctl.study.grid import PointSpec, StudyGrid
from labctl.study.point import metric_columns, run_point
from labctl.study.table import (
    STATUS_FAILED,
    STATUS_OK,
    ResultsTable,
    read_metadata,
    table_columns,
    write_metadata,
)
from labctl.study.wafer import MEASURED_SOURCE, TRUTH_SOURCE

PointFunction = Callable[[PointSpec], dict[str, Any]]

#: Seconds to wait for the scheduler at --scheduler to answer.
CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class StudyOutcome:
    total: int
    skipped: int
    ran: int
    failed: int
    wall_s: float


def run_study(
    grid: StudyGrid,
    out_dir: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    point_fn: PointFunction = run_point,
    show_progress: bool = True,
) -> StudyOutcome:
    """Compute the grid's points not yet in `out_dir`'s table; returns what was done."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    specs = grid.points()
    columns = table_columns(grid.axis_names, metric_columns(grid.all_modes()))
    metadata = _check_metadata(grid, out_dir, columns)
    table = ResultsTable.open(out_dir, columns)
    done = table.done()
    pending = [s for s in specs if s.point_id not in done]
    run_record: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "scheduler": scheduler,
        "workers": None if scheduler else workers,
        "pending": len(pending),
    }
    metadata.setdefault("runs", []).append(run_record)
    write_metadata(out_dir, metadata)

    failed = 0
    with _Progress(len(specs), len(done), show_progress) as progress:
        for spec, result, error in _results(pending, point_fn, workers, scheduler, progress):
            row: dict[str, Any] = {"point_id": spec.point_id, **spec.axes}
            if error is None:
                row.update(result, status=STATUS_OK)
            else:
                failed += 1
                row.update(status=STATUS_FAILED, reason=error)
            table.append(row)
            progress.point_done(error is not None)

    wall_s = time.perf_counter() - started
    run_record.update(
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        ran=len(pending),
        failed=failed,
        wall_s=round(wall_s, 2),
    )
    write_metadata(out_dir, metadata)
    return StudyOutcome(len(specs), len(specs) - len(pending), len(pending), failed, wall_s)


def _check_metadata(grid: StudyGrid, out_dir: Path, columns: list[str]) -> dict[str, Any]:
    """study.json of the folder; ConfigError when it holds a study of another fixed part."""
    metadata = read_metadata(out_dir)
    fixed = grid.fixed_part()
    if metadata and metadata.get("fixed") != fixed:
        raise ConfigError(
            f"{out_dir} holds a study with other fixed settings ({metadata.get('fixed')}); "
            f"use another --out"
        )
    metadata.update(
        name=grid.name,
        grid_file=str(grid.path) if grid.path else None,
        grid=grid.raw,
        fixed=fixed,
        map_source=MEASURED_SOURCE if grid.measured else TRUTH_SOURCE,
        columns=columns,
        units={
            "*_pct": "percent test error (gap: percentage points above the baseline)",
            "wall_s": "seconds of the point on its worker",
            "peak_rss_MiB": "peak resident memory of the worker process after the point (MiB)",
        },
        labctl_version=__version__,
    )
    return metadata


Result = tuple[PointSpec, dict[str, Any], str | None]


def _results(
    pending: Sequence[PointSpec],
    point_fn: PointFunction,
    workers: int,
    scheduler: str | None,
    progress: _Progress,
) -> Iterator[Result]:
    if not pending:
        return
    if scheduler is None and workers == 1:
        progress.set_running(1)
        for spec in pending:
            try:
                result: Result = (spec, point_fn(spec), None)
            except Exception as exc:  # a failing point is recorded, the study goes on
                result = (spec, {}, _reason(exc))
            yield result
        return
    yield from _dask_results(pending, point_fn, workers, scheduler, progress)


def _dask_results(
    pending: Sequence[PointSpec],
    point_fn: PointFunction,
    workers: int,
    scheduler: str | None,
    progress: _Progress,
) -> Iterator[Result]:
    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT_S))
            except OSError as exc:
                raise LabctlError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        run_tag = uuid.uuid4().hex[:8]
        futures = {
            client.submit(point_fn, spec, key=f"point-{spec.point_id}-{run_tag}", pure=False): spec
            for spec in pending
        }
        remaining = len(futures)
        for future in as_completed(futures):
            spec = futures[future]
            remaining -= 1
            progress.set_running(min(remaining, sum(client.nthreads().values())))
            if future.status == "finished":
                yield spec, future.result(), None
            else:
                yield spec, {}, _reason(future.exception())
            future.release()


def _reason(exc: BaseException | None) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split()) if exc else "unknown error"
    return text[:500]


class _Progress:
    """A rich progress bar: points done (of all, finished ones included), running and failed."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.total, self.done, self.failed, self.running = total, done, 0, 0
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("study"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self._text(), total=self.total, completed=self.done)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def _text(self) -> str:
        return f"done {self.done - self.failed} running {self.running} failed {self.failed}"

    def set_running(self, running: int) -> None:
        self.running = running
        self._refresh()

    def point_done(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        if self.done >= self.total:
            self.running = 0
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=self._text())
