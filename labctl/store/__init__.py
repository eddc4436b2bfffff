"""labctl's data store: one HDF5 file per wafer (docs/hdf5-format.md).

Writers use :class:`WaferFile` (measurements) and :func:`write_truth_file` (simulator truth);
everyone else reads with :func:`open_wafer`. Every reader validates a file before reading it
(:mod:`labctl.store.validate`: files may come from anywhere).
"""

from labctl.store.layout import FORMAT_VERSION, KIND_MEASUREMENT, KIND_TRUTH, DieStatus, TileData
from labctl.store.reader import DieRecord, WaferInfo, WaferReader, open_wafer
from labctl.store.wafer_file import WaferFile, resolve_die_selection

__all__ = [
    "FORMAT_VERSION",
    "KIND_MEASUREMENT",
    "KIND_TRUTH",
    "DieRecord",
    "DieStatus",
    "TileData",
    "WaferFile",
    "WaferInfo",
    "WaferReader",
    "open_wafer",
    "resolve_die_selection",
]
