"""Per-cell R_P, R_AP, TMR and defect class of one tile, from its raw P and AP reads.

Every threshold comes from the tile's own robust statistics in log10-resistance (median and
MAD-based sigma), so the classifier follows die-to-die variation without tuned ohm values:

* a cell *switches* when its reads span at least half the tile's median P -> AP contrast and it
  reads low after a P write and high after an AP write at least once each;
* a switching cell is ``ok``; its R_P / R_AP are the medians of its low / high reads, and reads on
  the wrong side of its own midpoint count as ``write_failures`` (an intermittent cell: still
  usable, so it keeps code 0 and its failure count is stored next to the defect map);
* a cell that does not switch is ``open`` above the AP population (median + z sigma), ``short``
  below the P population (median - z sigma), else ``stuck_p`` or ``stuck_ap`` by which of the two
  populations its level is nearer to (in sigmas); a switching cell whose high level is open-like
  or low level short-like takes that class too.

Statistics are computed twice: first over all cells (medians resist the few per cent of
defects), then over the cells the first pass found ok. The final numbers are returned as
:class:`TileThresholds` and stored with the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.core.defects import DefectCode
from labctl.core.errors import LabctlError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: MAD -> standard deviation for a normal distribution (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.482602218505602

#: Method tag stored with the thresholds; bump when the algorithm changes.
CLASSIFIER_METHOD = "labctl.robust-log10/1"

_SIGMA_FLOOR = 1e-9  # log10 units; keeps z-distances finite for noise-free synthetic data


class ClassificationError(LabctlError):
    """A tile whose reads show no switching population, so no thresholds can be derived."""


@dataclass(frozen=True)
class ClassifierConfig:
    """Knobs of the classifier, recorded with every tile's thresholds.

    outlier_z: distance in robust sigmas beyond which a non-switching level cannot belong to the
    healthy P / AP populations. The largest |z| expected among 20 600 normal cells is about 4.3;
    8 leaves room for heavier-than-normal tails while shorts (~1 kohm vs ~4 kohm) and opens
    (>1e9 ohm) sit tens to thousands of sigmas away.
    """

    outlier_z: float = 8.0

    def __post_init__(self) -> None:
        if not self.outlier_z > 0:
            raise ValueError(f"outlier_z must be > 0, got {self.outlier_z!r}")


@dataclass(frozen=True)
class TileThresholds:
    """The numbers a tile was classified with (log10 of ohm unless the name says ohm)."""

    method: str
    outlier_z: float
    median_log10_r_parallel: float
    sigma_log10_r_parallel: float
    median_log10_r_antiparallel: float
    sigma_log10_r_antiparallel: float
    median_log10_contrast: float
    switch_min_log10_span: float
    #: sigma of one read from repeated reads (NaN with a single cycle).
    read_noise_log10: float
    short_max_ohm: float
    open_min_ohm: float

    def as_attrs(self) -> dict[str, str | float]:
        """Flat attribute dict with a ``threshold_`` prefix, as stored in HDF5."""
        return {f"threshold_{key}": value for key, value in asdict(self).items()}

    @classmethod
    def from_attrs(cls, attrs: dict[str, object]) -> TileThresholds:
        """Inverse of :meth:`as_attrs`; KeyError names the first missing attribute."""
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = attrs[f"threshold_{field.name}"]
            values[field.name] = str(raw) if field.name == "method" else float(raw)  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TileClassification:
    """Per-cell results of one tile, all (rows, cols)."""

    r_parallel_ohm: FloatArray
    r_antiparallel_ohm: FloatArray
    tmr: FloatArray
    defects: NDArray[np.uint8]
    write_failures: NDArray[np.uint8]
    thresholds: TileThresholds

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.defects.shape[0]), int(self.defects.shape[1])


@dataclass(frozen=True)
class _Stats:
    m_p: float
    s_p: float
    m_ap: float
    s_ap: float
    m_contrast: float


def as_read_stack(reads_ohm: ArrayLike, name: str) -> FloatArray:
    """(cycles, rows, cols) float64 view of reads given as (rows, cols) or (cycles, rows, cols)."""
    stack = np.asarray(reads_ohm, dtype=np.float64)
    if stack.ndim == 2:
        stack = stack[np.newaxis]
    if stack.ndim != 3 or 0 in stack.shape:
        raise ValueError(f"{name} must be (cycles, rows, cols), got shape {stack.shape}")
    return stack


def classify_tile(
    reads_parallel_ohm: ArrayLike,
    reads_antiparallel_ohm: ArrayLike,
    config: ClassifierConfig | None = None,
) -> TileClassification:
    """Classify every cell of a tile from reads after P writes and after AP writes.

    Both inputs are (cycles, rows, cols) or (rows, cols) resistances in ohm, positive and finite
    (an open reads ~1e9 ... 1e12 ohm). Raises ClassificationError when the tile shows no
    switching population (e.g. no contact: every cell reads open).
    """
    cfg = config or ClassifierConfig()
    log_p = np.log10(_checked(as_read_stack(reads_parallel_ohm, "reads_parallel_ohm"), "P"))
    log_ap = np.log10(
        _checked(as_read_stack(reads_antiparallel_ohm, "reads_antiparallel_ohm"), "AP")
    )
    if log_p.shape[1:] != log_ap.shape[1:]:
        raise ValueError(f"P reads {log_p.shape} and AP reads {log_ap.shape} differ in tile shape")

    shape = log_p.shape[1:]
    n_cells = shape[0] * shape[1]
    log_p = log_p.reshape(log_p.shape[0], n_cells)
    log_ap = log_ap.reshape(log_ap.shape[0], n_cells)
    cell = _CellReads.from_logs(log_p, log_ap)

    first = _stats(cell.phase_p, cell.phase_ap)
    read_noise = _read_noise_log10(log_p, log_ap)
    _require_switching_population(first, cell.phase_ap - cell.phase_p, read_noise, cfg.outlier_z)
    defects, level_p, level_ap, failures = _assign(cell, first, cfg.outlier_z)
    ok = defects == DefectCode.OK
    final = _stats(level_p[ok], level_ap[ok]) if ok.sum() >= 2 else first
    defects, level_p, level_ap, failures = _assign(cell, final, cfg.outlier_z)

    r_p = np.power(10.0, level_p)
    r_ap = np.power(10.0, level_ap)
    return TileClassification(
        r_parallel_ohm=r_p.reshape(shape),
        r_antiparallel_ohm=r_ap.reshape(shape),
        tmr=(r_ap / r_p - 1.0).reshape(shape),
        defects=defects.reshape(shape),
        write_failures=failures.reshape(shape),
        thresholds=_thresholds(final, cfg.outlier_z, read_noise),
    )


@dataclass(frozen=True)
class _CellReads:
    """log10 reads flattened to (reads, cells) plus per-cell summaries."""

    log_p: FloatArray
    log_ap: FloatArray
    phase_p: FloatArray  # median of the P-phase reads
    phase_ap: FloatArray
    low: FloatArray
    high: FloatArray

    @classmethod
    def from_logs(cls, log_p: FloatArray, log_ap: FloatArray) -> _CellReads:
        both = np.concatenate([log_p, log_ap], axis=0)
        return cls(
            log_p=log_p,
            log_ap=log_ap,
            phase_p=np.median(log_p, axis=0),
            phase_ap=np.median(log_ap, axis=0),
            low=both.min(axis=0),
            high=both.max(axis=0),
        )


def _checked(stack: FloatArray, phase: str) -> FloatArray:
    if not np.all(np.isfinite(stack)) or np.any(stack <= 0):
        raise ValueError(f"{phase} reads must be positive, finite resistances in ohm")
    return stack


def _robust_sigma(values: FloatArray) -> float:
    median = np.median(values)
    return max(float(MAD_TO_SIGMA * np.median(np.abs(values - median))), _SIGMA_FLOOR)


def _stats(level_p: FloatArray, level_ap: FloatArray) -> _Stats:
    return _Stats(
        m_p=float(np.median(level_p)),
        s_p=_robust_sigma(level_p),
        m_ap=float(np.median(level_ap)),
        s_ap=_robust_sigma(level_ap),
        m_contrast=float(np.median(level_ap - level_p)),
    )


def _read_noise_log10(log_p: FloatArray, log_ap: FloatArray) -> float:
    """Robust sigma of one read (log10) from repeated reads of the same state; NaN if there is
    only one cycle."""
    if log_p.shape[0] < 2:
        return float("nan")
    diffs = np.concatenate([log_p[1] - log_p[0], log_ap[1] - log_ap[0]])
    return _robust_sigma(diffs) / np.sqrt(2.0)


def _require_switching_population(
    stats: _Stats, contrast: FloatArray, read_noise: float, z: float
) -> None:
    """The median cell must switch: its P -> AP contrast must lie z sigmas above zero, both as a
    median over the tile (standard error) and as a single read (read noise, when known). Pure
    noise (no contact), writes without effect or a drift between phases fail this."""
    scale = _robust_sigma(contrast) / np.sqrt(contrast.size)
    if np.isfinite(read_noise):
        scale = max(scale, read_noise)
    if not stats.m_contrast > z * scale:
        raise ClassificationError(
            "tile shows no P/AP switching (median log10 contrast "
            f"{stats.m_contrast:.3g}, median level {10**stats.m_p:.3g} ohm): "
            "no contact, or the writes had no effect"
        )


def _assign(
    cell: _CellReads, stats: _Stats, outlier_z: float
) -> tuple[NDArray[np.uint8], FloatArray, FloatArray, NDArray[np.uint8]]:
    """Defect codes, per-cell log10 R_P / R_AP levels and write-failure counts."""
    switch_span = stats.m_contrast / 2.0
    short_max = stats.m_p - outlier_z * stats.s_p
    open_min = stats.m_ap + outlier_z * stats.s_ap

    mid = (cell.low + cell.high) / 2.0
    p_low = cell.log_p < mid
    ap_high = cell.log_ap >= mid
    switching = (cell.high - cell.low >= switch_span) & p_low.any(axis=0) & ap_high.any(axis=0)

    both = np.concatenate([cell.log_p, cell.log_ap], axis=0)
    is_low = both < mid
    level_p = cell.phase_p.copy()
    level_ap = cell.phase_ap.copy()
    if switching.any():
        sw = both[:, switching]
        low_mask = is_low[:, switching]
        level_p[switching] = np.nanmedian(np.where(low_mask, sw, np.nan), axis=0)
        level_ap[switching] = np.nanmedian(np.where(low_mask, np.nan, sw), axis=0)
    failures = (~p_low).sum(axis=0) + (~ap_high).sum(axis=0)
    failures = np.where(switching, np.minimum(failures, 255), 0).astype(np.uint8)

    level = np.median(both, axis=0)
    nearer_p = np.abs(level - stats.m_p) / stats.s_p <= np.abs(level - stats.m_ap) / stats.s_ap
    defects = np.where(nearer_p, DefectCode.STUCK_P, DefectCode.STUCK_AP).astype(np.uint8)
    defects[switching] = DefectCode.OK
    defects[(~switching & (level < short_max)) | (switching & (level_p < short_max))] = (
        DefectCode.SHORT
    )
    defects[(~switching & (level >= open_min)) | (switching & (level_ap >= open_min))] = (
        DefectCode.OPEN
    )
    failures[defects != DefectCode.OK] = 0
    return defects, level_p, level_ap, failures


def _thresholds(stats: _Stats, outlier_z: float, read_noise: float) -> TileThresholds:
    return TileThresholds(
        read_noise_log10=read_noise,
        method=CLASSIFIER_METHOD,
        outlier_z=outlier_z,
        median_log10_r_parallel=stats.m_p,
        sigma_log10_r_parallel=stats.s_p,
        median_log10_r_antiparallel=stats.m_ap,
        sigma_log10_r_antiparallel=stats.s_ap,
        median_log10_contrast=stats.m_contrast,
        switch_min_log10_span=stats.m_contrast / 2.0,
        short_max_ohm=float(10 ** (stats.m_p - outlier_z * stats.s_p)),
        open_min_ohm=float(10 ** (stats.m_ap + outlier_z * stats.s_ap)),
    )
