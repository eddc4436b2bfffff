"""labctl's measurement procedures (PyMeasure ``Procedure`` subclasses) and their helpers.

* :mod:`procedures.wafer_sweep` - ``WaferSweepProcedure``: the selected dies, one HDF5 file.
* :mod:`procedures.characterise` - ``CharacteriseDieProcedure``: the die under the probes.
* :mod:`procedures.base` - shared parameters (SI units), station and file life cycle.
* :mod:`procedures.die_run` - one die: step, contact, checks, characterise, separate, record.
* :mod:`procedures.measurement` - write P / read / write AP / read per tile, classification.
* :mod:`procedures.die_checks` - contact and gate-leakage checks.
* :mod:`procedures.operating_point` - the run's read bias and write pulse on the station.
* :mod:`procedures.retry` - bounded retries with back-off for transient instrument failures.
* :mod:`procedures.settings`, :mod:`procedures.timing` - settings; dry-run duration estimate.
* :mod:`procedures.events` - the ``die`` topic and the per-row result columns.
"""
