"""Child processes: output streamed line by line, exit codes, stop."""

from __future__ import annotations

import sys

from gui.process_runner import ProcessRunner, labctl_command


def test_output_lines_and_exit_code(qtbot):
    runner = ProcessRunner()
    lines: list[str] = []
    runner.line.connect(lines.append)
    code = "import sys; print('one'); print('two', flush=True); sys.exit(3)"
    with qtbot.waitSignal(runner.finished, timeout=20000) as done:
        runner.start([sys.executable, "-c", code], "demo")
    assert done.args == [3]
    assert lines[1:] == ["one", "two"]
    assert not runner.running()


def test_stop_ends_a_long_process(qtbot):
    runner = ProcessRunner()
    with qtbot.waitSignal(runner.finished, timeout=20000):
        runner.start([sys.executable, "-c", "import time; time.sleep(60)"], "sleeper")
        runner.stop()
    assert not runner.running()


def test_labctl_command_runs_this_interpreter():
    argv = labctl_command(["inspect", "w.h5"])
    assert argv[:3] == [sys.executable, "-m", "labctl.cli.main"] and argv[3:] == ["inspect", "w.h5"]
