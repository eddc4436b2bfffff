"""Per-die errors of trained modes, validated for the training panel.

Read from a reproduce run's ``results.json`` (contract of issue 4: ``{"baseline_error": e,
"modes": {mode: {"per_die": {die: e}, "mean": e, "std": e}}, ...}``) or a ``labctl train``
folder's ``summary.json``, which holds the same per-mode object one level down, under
``modes.<mode>.dies``. Errors are fractions of the test set; unknown extra keys are ignored;
``modes`` may be empty (only the baseline trained so far).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.core.errors import DataFormatError, LabctlError
from labctl.core.wafer_map import ALL_DIE_NAMES

#: Display order of the modes the paper compares (others follow alphabetically).
MODE_ORDER: tuple[str, ...] = ("unaware", "hardware-aware", "statistics-aware")
#: Result files looked for in a folder, in this order.
RESULT_FILES: tuple[str, ...] = ("results.json", "summary.json")


@dataclass(frozen=True)
class ModeResult:
    per_die: dict[str, float]
    mean: float
    std: float


@dataclass(frozen=True)
class TrainingResults:
    path: Path
    baseline_error: float
    modes: dict[str, ModeResult]

    def mode_names(self) -> list[str]:
        known = [m for m in MODE_ORDER if m in self.modes]
        return known + sorted(m for m in self.modes if m not in MODE_ORDER)

    def dies(self) -> list[str]:
        """Dies with a result in any mode, wafer-map order first."""
        present = {d for mode in self.modes.values() for d in mode.per_die}
        ordered = [d for d in ALL_DIE_NAMES if d in present]
        return ordered + sorted(present - set(ordered))


def load_results(path: str | Path) -> TrainingResults:
    """Read and check a results file, or the first of :data:`RESULT_FILES` in a folder."""
    file = Path(path)
    if file.is_dir():
        candidates = [file / name for name in RESULT_FILES]
        file = next((c for c in candidates if c.exists()), candidates[0])
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabctlError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabctlError(f"{file}: cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{file} is not JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(raw, dict):
        raise DataFormatError(f"{file}: expected a JSON object of reproduce results")
    baseline = _fraction(raw.get("baseline_error"), f"{file}: baseline_error")
    modes_raw = raw.get("modes")
    if not isinstance(modes_raw, dict):
        raise DataFormatError(f"{file}: 'modes' must be an object (mode -> per-die errors)")
    modes: dict[str, ModeResult] = {}
    for mode, entry in modes_raw.items():
        where = f"{file}: modes.{mode}"
        if isinstance(entry, dict) and "per_die" not in entry and isinstance(
                entry.get("dies"), dict):
            entry, where = entry["dies"], f"{where}.dies"  # summary.json of labctl train
        if not isinstance(entry, dict) or not isinstance(entry.get("per_die"), dict):
            raise DataFormatError(f"{where} needs a 'per_die' object")
        per_die = {
            str(d): _fraction(e, f"{where}.per_die.{d}") for d, e in entry["per_die"].items()
        }
        modes[str(mode)] = ModeResult(
            per_die=per_die,
            mean=_fraction(entry.get("mean"), f"{where}.mean"),
            std=_number(entry.get("std"), f"{where}.std"),
        )
    return TrainingResults(path=file, baseline_error=baseline, modes=modes)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataFormatError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _fraction(value: Any, where: str) -> float:
    number = _number(value, where)
    if not 0.0 <= number <= 1.0:
        raise DataFormatError(f"{where} = {number:g} is not a fraction of the test set (0 ... 1)")
    return number
