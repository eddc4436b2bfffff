"""A new sweep setting is one declaration: a Parameter on the sweep procedure appears as a
`labctl sweep` option, as an input of the GUI's run control, and reaches the procedure."""

from __future__ import annotations

import argparse
from pathlib import Path

from pymeasure.experiment import FloatParameter

from gui.run_control import RunControlPanel
from labctl.cli.sweep_cmd import add_setting_options, given_values
from labctl.services.station_source import StationSource
from labctl.services.sweep.plan import SweepRequest
from labctl.services.sweep.service import SweepService, build_procedure
from labctl.services.sweep.spec import SweepSpec
from procedures.wafer_sweep import WaferSweepProcedure


class SettlingSweep(WaferSweepProcedure):
    """The sweep with one more setting, declared the only way a setting is declared."""

    settle_time = FloatParameter("Settling time", units="s", default=0.01, minimum=0.0,
                                 maximum=1.0, description="wait after contact")


def test_a_new_parameter_is_an_option_an_input_and_a_procedure_value(qtbot, tmp_path: Path):
    spec = SweepSpec.of(SettlingSweep)

    parser = argparse.ArgumentParser()
    add_setting_options(parser, spec)
    assert "--settle-time S" in parser.format_help()
    assert "wait after contact (default 0.01 s)" in " ".join(parser.format_help().split())
    args = parser.parse_args(["--settle-time", "0.2", "--cycles", "1"])
    assert given_values(args, spec) == {"settle_time": 0.2, "cycles": 1}

    panel = RunControlPanel(spec)
    qtbot.addWidget(panel)
    assert "settle_time" in panel.form.names()
    panel.form.set_value("settle_time", 0.5)
    panel.output_edit.setText(str(tmp_path / "w.h5"))
    panel.picker.set_selected(["die_03_00"])
    request = panel.build_request()
    assert request.values["settle_time"] == 0.5

    service = SweepService(StationSource.simulator(), spec=spec)
    procedure = build_procedure(service.plan(request))
    assert isinstance(procedure, SettlingSweep) and procedure.settle_time == 0.5
    default = build_procedure(service.plan(SweepRequest(tmp_path / "x.h5", "die_03_00")))
    assert default.settle_time == 0.01
