"""The study's results: one CSV row per point, appended (and synced) as each point finishes,
with its metadata beside it in study.json.

Columns: point_id, status (ok | failed), reason (why a point failed), the axis values, then the
metrics as floats (labctl.study.point.metric_columns), then the worker's host name. A study
killed mid-write can leave a torn last line; reading drops it, and the next run rewrites the file
without it before appending. Failed points are dropped on reading too, so a re-run retries them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.core.errors import ConfigError, DataFormatError

RESULTS_FILE = "results.csv"
METADATA_FILE = "study.json"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
LEADING_COLUMNS = ("point_id", "status", "reason")
TRAILING_COLUMNS = ("worker",)


def table_columns(axis_names: Sequence[str], metric_columns: Sequence[str]) -> list[str]:
    return [*LEADING_COLUMNS, *axis_names, *metric_columns, *TRAILING_COLUMNS]


def format_axis_value(value: Any) -> str:
    """Axis values as the table stores them: numbers and strings as they are, lists as JSON."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


@dataclass
class ResultsTable:
    """The results file of one study folder, open for appending."""

    folder: Path
    columns: list[str]
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.folder / RESULTS_FILE

    @classmethod
    def open(cls, folder: Path, columns: list[str]) -> ResultsTable:
        """Read the finished points (ok rows, first of each id) and rewrite the file with
        exactly those, so that appends start on a clean line."""
        folder.mkdir(parents=True, exist_ok=True)
        table = cls(folder, columns)
        if table.path.exists():
            header, rows = read_rows(table.path)
            if header != columns:
                raise ConfigError(
                    f"{table.path} has other columns than this grid gives: use another --out "
                    f"(or remove the file to start afresh)"
                )
            for row in rows:
                if row["status"] == STATUS_OK:
                    table.rows.setdefault(row["point_id"], row)
        table._rewrite()
        return table

    def done(self) -> set[str]:
        return set(self.rows)

    def append(self, row: Mapping[str, Any]) -> None:
        """Write one point's row and sync it to disk before returning."""
        values = {c: _cell(row.get(c, "")) for c in self.columns}
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerow([values[c] for c in self.columns])
            fh.flush()
            os.fsync(fh.fileno())
        if values["status"] == STATUS_OK:
            self.rows.setdefault(values["point_id"], values)

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.columns)
            for row in self.rows.values():
                writer.writerow([row.get(c, "") for c in self.columns])
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and complete rows of a results file (a torn or short row is dropped)."""
    try:
        with path.open(newline="") as fh:
            lines = list(csv.reader(fh))
    except (OSError, csv.Error) as exc:
        raise DataFormatError(f"cannot read {path}: {exc}") from exc
    if not lines:
        return [], []
    header = lines[0]
    rows = [dict(zip(header, line, strict=True)) for line in lines[1:] if len(line) == len(header)]
    return header, [r for r in rows if r.get("status") in (STATUS_OK, STATUS_FAILED)]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return format_axis_value(value)


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"cannot read {path}: {exc}") from exc
    return loaded if isinstance(loaded, dict) else {}


def write_metadata(folder: Path, metadata: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / METADATA_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
