"""Errors that the command line reports as one clear line (no traceback, non-zero exit)."""


class LabctlError(Exception):
    """A user-facing failure: bad input, an unreachable instrument, a refused operation."""


class ConfigError(LabctlError):
    """A station, procedure or parameter file that cannot be used as given."""


class InstrumentError(LabctlError):
    """An instrument that does not answer, answers wrongly or reports an error."""


class SafetyError(LabctlError):
    """An operation refused by labctl's hardware interlocks before anything was sent."""


class DataFormatError(LabctlError):
    """A data file (HDF5, weights) of another format, a newer version, or damaged."""
