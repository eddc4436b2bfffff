"""Program and validate one die: the steps `labctl program`, `labctl validate` and
`labctl reproduce` share (station connected by the caller; wafer file as input and record)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labctl.core.defects import DefectCode
from labctl.core.errors import LabctlError
from labctl.hardware.deploy import WeightSet, die_routing, tile_targets
from labctl.hardware.validate import (
    Validation,
    compare,
    emulated_error,
    emulated_predictions,
    in_situ_predictions,
    readback_responses,
    tile_references,
)
from labctl.station.array_ops import read_tile_resistance_ohm
from labctl.station.station import Station
from labctl.store.programmed import (
    ProgrammedRun,
    ProgrammedTile,
    add_programmed_run,
    read_programmed_run,
)
from labctl.training.maps import DieMaps
from labctl.training.mnist import MnistData, load_mnist
from labctl.training.routing import DieRouting
from labctl.training.wafer_maps import read_wafer_maps
from procedures.program import (
    VERIFY_NPLC,
    TileTarget,
    WriteVerifySettings,
    infer_on_die,
    on_die,
    program_die,
    reads_as_ap,
    write_verify_tile,
)

log = logging.getLogger(__name__)

#: Default number of test images classified in situ per die.
DEFAULT_IN_SITU_IMAGES = 1000


def complete_die_names(wafer_path: Path) -> list[str]:
    """Complete dies of the wafer file, in wafer-map order."""
    return list(read_wafer_maps(wafer_path).names)


def die_maps(wafer_path: Path, die: str) -> DieMaps:
    """The characterisation of `die` (LabctlError if unknown or not complete)."""
    from labctl.store.layout import DieStatus
    from labctl.store.reader import open_wafer

    with open_wafer(wafer_path) as reader:
        record = reader.dies.get(die)
        if record is None:
            raise LabctlError(
                f"{wafer_path}: no die {die!r} in this file (dies are named like die_03_00)"
            )
        if record.status is not DieStatus.COMPLETE:
            reason = f" ({record.failure_reason})" if record.failure_reason else ""
            raise LabctlError(f"{wafer_path}: {die} is {record.status.value}{reason}; "
                              "only complete dies can be programmed")
    return read_wafer_maps(wafer_path, [die]).die(die)


def selected_dies(wafer_path: Path, die: str) -> list[str]:
    """The dies named by `die` ("all" = every complete die), checked against the wafer file."""
    if not Path(wafer_path).is_file():
        raise LabctlError(f"wafer file not found: {wafer_path}")
    if die == "all":
        names = complete_die_names(wafer_path)
        if not names:
            raise LabctlError(f"{wafer_path} has no complete die")
        return names
    die_maps(wafer_path, die)  # a clear error for an unknown or incomplete die
    return [die]


def weight_set_for(path: Path, die: str) -> WeightSet:
    """The weight set for `die`: the file itself, or <die>.safetensors in a folder."""
    from labctl.hardware.deploy import load_weight_set

    if path.is_dir():
        candidate = path / f"{die}.safetensors"
        if not candidate.is_file():
            raise LabctlError(f"{path}: no weights for {die} ({candidate.name})")
        return load_weight_set(candidate)
    return load_weight_set(path)


def program_weights(
    station: Station,
    wafer_path: Path,
    weights: WeightSet,
    die: DieMaps,
    settings: WriteVerifySettings,
) -> ProgrammedRun:
    """Write-verify `weights` onto `die` and store the read-back map in the wafer file."""
    routing = die_routing(weights, die)
    targets = tile_targets(weights, die, routing)
    outcomes = program_die(station, die.name, targets, settings)
    tiles = tuple(
        ProgrammedTile(
            target_ap=t.target_ap, r_read_ohm=o.r_read_ohm, pulses=o.pulses,
            defects=o.defects, new_defects=o.new_defects, missed=o.missed,
        )
        for t, o in zip(targets, outcomes, strict=True)
    )
    run = ProgrammedRun(
        die=die.name,
        weights=weights.identity(),
        settings={
            "max_pulses": settings.max_pulses,
            "amplitude_V": settings.amplitude_V if settings.amplitude_V is not None
            else station.limits.write_voltage_V,
            "width_s": settings.width_s if settings.width_s is not None
            else station.limits.write_width_s,
            "nplc": settings.nplc,
            "station": station.name,
        },
        tiles=tiles,
        routing_rows=tuple(tuple(int(v) for v in r) for r in routing.rows),
    )
    name = add_programmed_run(wafer_path, run)
    return ProgrammedRun(**{**run.__dict__, "name": name})


#: Fraction of cells whose state may differ from the stored read-back (read noise near a cell's
#: midpoint) before the die counts as no longer holding the run.
HOLD_TOLERANCE = 0.002


def check_die_holds(station: Station, run: ProgrammedRun, die: DieMaps, restore: bool) -> None:
    """Read the die back and compare its working cells with the stored run; if the die no
    longer holds it (another write, a power cycle, a freshly started simulator), write the
    run's pattern again when `restore`, else LabctlError. The die must be in contact."""
    for k, tile in enumerate(run.tiles):
        midpoint = (die.tiles[k].g_p_S + die.tiles[k].g_ap_S) / 2
        now = read_tile_resistance_ohm(station, k, nplc=VERIFY_NPLC)
        working = die.tiles[k].defects == DefectCode.OK
        held = reads_as_ap(tile.r_read_ohm, midpoint)
        differs = float(np.mean((reads_as_ap(now, midpoint) != held)[working]))
        if differs <= HOLD_TOLERANCE:
            continue
        if not restore:
            raise LabctlError(
                f"{die.name} tile {k} no longer holds {run.name} ({differs:.1%} of cells "
                "differ); program it again, or validate with restore on"
            )
        log.info("%s tile %d: %.1f%% of cells differ from %s; writing it again", die.name, k,
                 100 * differs, run.name)
        target = TileTarget(k, tile.target_ap, midpoint, tile.defects)
        settings = WriteVerifySettings(
            max_pulses=int(run.settings.get("max_pulses", 5)),
            amplitude_V=run.settings.get("amplitude_V"),
            width_s=run.settings.get("width_s"),
        )
        write_verify_tile(station, target, settings)


def data_for(weights: WeightSet) -> MnistData:
    """MNIST preprocessed as the weights were trained (multi-bit inputs when they record
    `input_bits` > 1: quantised, read bit-serially in situ)."""
    pre = weights.metadata.preprocessing
    return load_mnist(
        pool=int(pre.get("pool", 2)), threshold=float(pre.get("binarise_threshold", 0.5)),
        input_bits=input_bits_of(weights),
    )


def input_bits_of(weights: WeightSet) -> int:
    """Bits per input pixel the weights were trained with (1: binary)."""
    return int(weights.metadata.preprocessing.get("input_bits", 1))


def validate_programmed(
    station: Station | None,
    wafer_path: Path,
    weights: WeightSet,
    die: DieMaps,
    data: MnistData,
    in_situ_images: int = DEFAULT_IN_SITU_IMAGES,
    run_name: str | None = None,
    progress: Callable[[str], None] | None = None,
    restore: bool = False,
) -> Validation:
    """(a) emulated error of the stored read-back map; (b) in-situ inference on the die when a
    station is given and `in_situ_images` > 0. The die must still hold the run (checked by a
    read-back; written again if `restore`)."""
    run = read_programmed_run(wafer_path, die.name, run_name)
    if run.weights.get("sha256") != weights.sha256:
        raise LabctlError(
            f"{die.name} {run.name} holds {run.weights.get('file')} "
            f"(sha256 {str(run.weights.get('sha256'))[:12]}...), not {weights.path.name}; "
            "program these weights first"
        )
    routing = DieRouting(tuple(np.asarray(r, dtype=np.int64) for r in run.routing_rows))
    refs = tile_references(die, weights.net.n_layers)
    responses = readback_responses(run, refs, routing)
    error_a = emulated_error(weights.net, responses, data.test_x, data.test_y)
    n = min(in_situ_images, len(data.test_y)) if station is not None else 0
    if station is None or n <= 0:
        return Validation(die.name, run.name, weights.metadata.mode, error_a, len(data.test_y))
    x, labels = data.test_x[:n], data.test_y[:n].numpy()
    if progress:
        progress(f"{die.name}: in-situ inference of {n} test images")
    voltage_V = station.limits.read_voltage_V
    with on_die(station, die.name):
        check_die_holds(station, run, die, restore)
        predicted_b = in_situ_predictions(
            lambda tile, drive: infer_on_die(station, tile, drive),
            weights.net, routing, refs, die.tile_shapes, x, voltage_V, input_bits_of(weights),
        )
    predicted_a = emulated_predictions(weights.net, responses, x)
    agreement, err_a_subset, err_b = compare(predicted_a, predicted_b, labels)
    return Validation(
        die.name, run.name, weights.metadata.mode, error_a, len(data.test_y),
        in_situ_images=n, in_situ_error=err_b, emulated_error_subset=err_a_subset,
        agreement=agreement,
    )
