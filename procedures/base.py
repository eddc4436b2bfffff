"""What the characterisation and sweep procedures share: their parameters (SI units), the
station and wafer-file life cycle, and the safe state on every way out.

A procedure either receives a connected ``station`` (and optionally an open ``store``) from its
caller (the command line, the GUI) or opens them itself in ``startup`` from the ``Station file``
and ``Output file`` parameters. ``shutdown`` always brings the station to its safe state and
closes what the procedure opened itself.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
    Procedure,
)

from labctl.core.errors import ConfigError, DataFormatError
from labctl.station.config import load_station_config
from labctl.station.snapshot import station_snapshot
from labctl.station.station import Station
from labctl.store.reader import open_wafer
from labctl.store.wafer_file import WaferFile
from procedures.die_checks import DEFAULT_MAX_GATE_LEAKAGE_A
from procedures.die_run import DieRun
from procedures.events import ROW_COLUMNS
from procedures.measurement import StopRequested
from procedures.operating_point import operating_point
from procedures.retry import RetryPolicy, describe_failure
from procedures.settings import (
    BATCHING_CHOICES,
    CHECKPOINT_INTERVAL_RANGE_S,
    CYCLES_RANGE,
    GATE_LEAKAGE_RANGE_A,
    NPLC_RANGE,
    READ_VOLTAGE_RANGE_V,
    RETRY_ATTEMPTS_RANGE,
    RETRY_BACKOFF_RANGE_S,
    WRITE_VOLTAGE_RANGE_V,
    WRITE_WIDTH_RANGE_S,
    CharacterisationSettings,
)

log = logging.getLogger(__name__)

_DEFAULTS = CharacterisationSettings()


class MeasurementProcedure(Procedure):
    """Base of the die-characterisation and wafer-sweep procedures."""

    DATA_COLUMNS = ROW_COLUMNS

    cycles = IntegerParameter("Cycles", default=_DEFAULTS.cycles, minimum=CYCLES_RANGE[0],
                              maximum=CYCLES_RANGE[1],
                              description="write P / read / write AP / read cycles per tile")
    read_voltage = FloatParameter("Read bias", units="V", default=_DEFAULTS.read_voltage_V,
                                  minimum=READ_VOLTAGE_RANGE_V[0],
                                  maximum=READ_VOLTAGE_RANGE_V[1], description="read bias")
    write_voltage = FloatParameter("Write pulse amplitude", units="V",
                                   default=_DEFAULTS.write_voltage_V,
                                   minimum=WRITE_VOLTAGE_RANGE_V[0],
                                   maximum=WRITE_VOLTAGE_RANGE_V[1],
                                   description="write pulse amplitude")
    write_width = FloatParameter("Write pulse width", units="s", default=_DEFAULTS.write_width_s,
                                 minimum=WRITE_WIDTH_RANGE_S[0], maximum=WRITE_WIDTH_RANGE_S[1],
                                 description="write pulse width")
    nplc = FloatParameter("NPLC", default=_DEFAULTS.nplc, minimum=NPLC_RANGE[0],
                          maximum=NPLC_RANGE[1],
                          description="integration time per reading in power-line cycles")
    batching = ListParameter("Read batching", choices=list(BATCHING_CHOICES),
                             default=_DEFAULTS.batching,
                             description="read a whole tile or one row per acquisition")
    adaptive = BooleanParameter("Adaptive reading", default=_DEFAULTS.adaptive,
                                description="after the fast pass at NPLC, measure the cells "
                                "whose reads are ambiguous (near a classification threshold or "
                                "inconsistent across cycles) again at the re-read NPLC")
    precise_nplc = FloatParameter("Re-read NPLC", default=_DEFAULTS.precise_nplc,
                                  minimum=NPLC_RANGE[0], maximum=NPLC_RANGE[1],
                                  description="integration of the adaptive re-reads, in "
                                  "power-line cycles")
    retry_attempts = IntegerParameter("Attempts per instrument operation", default=3,
                                      minimum=RETRY_ATTEMPTS_RANGE[0],
                                      maximum=RETRY_ATTEMPTS_RANGE[1],
                                      description="attempts per instrument operation on "
                                      "timeouts and transient VISA errors")
    retry_backoff = FloatParameter("First retry back-off", units="s", default=0.5,
                                   minimum=RETRY_BACKOFF_RANGE_S[0],
                                   maximum=RETRY_BACKOFF_RANGE_S[1],
                                   description="pause before the first retry, doubled for each "
                                   "further one")
    max_gate_leakage = FloatParameter("Gate leakage limit", units="A",
                                      default=DEFAULT_MAX_GATE_LEAKAGE_A,
                                      minimum=GATE_LEAKAGE_RANGE_A[0],
                                      maximum=GATE_LEAKAGE_RANGE_A[1],
                                      description="fail a die whose word-line leakage exceeds "
                                      "this")
    checkpoint_interval = FloatParameter("Checkpoint interval", units="s", default=30.0,
                                         minimum=CHECKPOINT_INTERVAL_RANGE_S[0],
                                         maximum=CHECKPOINT_INTERVAL_RANGE_S[1],
                                         description="publish a running die's partial data at "
                                         "most this often, for live viewers")
    station_file = Parameter("Station file", default="")
    output_file = Parameter("Output file", default="")
    wafer_id = Parameter("Wafer ID", default="",
                         description="wafer identifier (empty: the simulated wafer's, or the "
                         "output file's name without extension)")
    resume = BooleanParameter("Resume", default=False)

    #: Injected by the caller, or opened in startup (then also closed in shutdown).
    station: Station | None = None
    store: WaferFile | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owns_station = False
        self._owns_store = False

    # --- parameters as typed values -------------------------------------------------------------
    def settings(self) -> CharacterisationSettings:
        """The characterisation settings (ConfigError if out of range)."""
        return CharacterisationSettings(
            cycles=int(self.cycles),
            read_voltage_V=float(self.read_voltage),
            write_voltage_V=float(self.write_voltage),
            write_width_s=float(self.write_width),
            nplc=float(self.nplc),
            batching=self.batching,
            adaptive=bool(self.adaptive),
            precise_nplc=float(self.precise_nplc),
        )

    def retry_policy(self) -> RetryPolicy:
        backoff_s = float(self.retry_backoff)
        return RetryPolicy(attempts=int(self.retry_attempts), initial_backoff_s=backoff_s,
                           max_backoff_s=max(backoff_s, RetryPolicy.max_backoff_s))

    def selected_dies(self) -> list[str]:
        """Dies this procedure measures (listed as pending when it creates a wafer file)."""
        raise NotImplementedError

    def procedure_record(self) -> dict[str, Any]:
        """The JSON stored as the wafer file's ``procedure`` attribute."""
        return {
            "procedure": f"{type(self).__module__}.{type(self).__name__}",
            "settings": self.settings().as_dict(),
            "retry_attempts": int(self.retry_attempts),
            "retry_backoff_s": float(self.retry_backoff),
            "max_gate_leakage_A": float(self.max_gate_leakage),
            "dies": self.selected_dies(),
        }

    # --- life cycle -----------------------------------------------------------------------------
    def startup(self) -> None:
        """Validate the settings, connect the station and open the wafer file if not given."""
        self.settings()
        if self.station is None:
            if not self.station_file:
                raise ConfigError("no station: give a Station file (or pass a connected station)")
            self.station = Station.connect(load_station_config(self.station_file))
            self._owns_station = True
        self.prepare(self.station)
        if self.store is None:
            self.store = self.open_store(self.station)
            self._owns_store = True

    def prepare(self, station: Station) -> None:
        """Hook between connecting and opening the file (e.g. ask the prober where it is)."""

    def open_store(self, station: Station) -> WaferFile:
        """Create the output file, or open it for resume after checking it fits this run."""
        if not self.output_file:
            raise ConfigError("no output file given")
        path = Path(self.output_file)
        if self.resume:
            check_resumable(path, self.wafer_id, self.settings())
            return WaferFile.open_for_resume(path)
        return WaferFile.create(path, self.wafer_id or path.stem, station_snapshot(station),
                                self.procedure_record(), self.selected_dies())

    def require_station(self) -> Station:
        if self.station is None:
            raise RuntimeError("startup() must run before execute()")
        return self.station

    def require_store(self) -> WaferFile:
        if self.store is None:
            raise RuntimeError("startup() must run before execute()")
        return self.store

    def execute(self) -> None:
        """Measure with the run's read/write operating point applied to the station."""
        try:
            with operating_point(self.require_station(), self.settings()):
                self.measure()
        except StopRequested:
            log.warning("measurement stopped on request; the die in progress is marked aborted")

    def measure(self) -> None:
        """The procedure's own measurement (station and store are ready)."""
        raise NotImplementedError

    def die_run(self) -> DieRun:
        """A die runner wired to this procedure's station, file, settings, emit and stop."""
        return DieRun(
            station=self.require_station(),
            store=self.require_store(),
            settings=self.settings(),
            retry=self.retry_policy(),
            emit=self.emit,
            should_stop=self.should_stop,
            max_gate_leakage_A=float(self.max_gate_leakage),
            checkpoint_interval_s=float(self.checkpoint_interval),
        )

    def shutdown(self) -> None:
        """Safe state on every way out (its steps retry on fresh connections if an exchange
        was cut short); close what startup opened."""
        try:
            if self.station is not None:
                try:
                    self.station.safe_state()
                except Exception as exc:
                    log.error("safe state at shutdown failed: %s", describe_failure(exc))
        finally:
            if self._owns_store and self.store is not None:
                self.store.close()
                self.store = None
            if self._owns_station and self.station is not None:
                self.station.close()
                self.station = None


#: Settings that change how fast a die is measured, not what is measured: free on resume.
SPEED_ONLY_SETTINGS = frozenset({"batching"})


def check_resumable(path: Path, wafer_id: str, settings: CharacterisationSettings) -> None:
    """Refuse to resume a file of another wafer, or one measured with other settings.

    Raises (LabctlError / DataFormatError, one line) before anything is changed.
    """
    with open_wafer(path) as reader:
        info = reader.info
    if info.kind != "measurement":
        raise DataFormatError(f"{path} is a {info.kind} file, not a measurement; cannot resume")
    if wafer_id and info.wafer_id != wafer_id:
        raise ConfigError(
            f"{path} holds wafer {info.wafer_id!r}, but this run measures {wafer_id!r}; "
            "resume with the same wafer (for the simulator: the same seed)"
        )
    stored = info.procedure.get("settings")
    if isinstance(stored, dict):
        wanted = settings.as_dict()
        differing = sorted(k for k in wanted if k in stored and stored[k] != wanted[k]
                           and k not in SPEED_ONLY_SETTINGS)
        if differing:
            detail = ", ".join(f"{k} {stored[k]!r} (now {wanted[k]!r})" for k in differing)
            raise ConfigError(
                f"{path} was measured with other settings: {detail}; resume with the same "
                "settings so that all dies are comparable"
            )



def procedure_parameters(procedure_class: type[Procedure]) -> dict[str, Parameter]:
    """Parameter attributes of a procedure class in definition order (base classes first)."""
    found: dict[str, Parameter] = {}
    for cls in reversed(procedure_class.__mro__):
        for name, value in vars(cls).items():
            if isinstance(value, Parameter):
                found.pop(name, None)
                found[name] = value
    return found
