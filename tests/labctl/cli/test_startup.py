"""`labctl --help` imports no command module and no heavy package; every command's parser
still builds, with the help line of the one table."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.bench_cli import heavy_imports
from labctl.cli.commands import COMMANDS
from labctl.cli.main import main
from labctl.cli.parser import build_parser, command_name
from labctl.cli.train_cmd import format_summary


def test_top_level_help_imports_nothing_heavy() -> None:
    assert heavy_imports() == []


def test_every_command_registers_with_its_table_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser(every_command=True)
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(commands.choices) == list(COMMANDS)
    helps = {action.dest: action.help for action in commands._choices_actions}
    assert helps == {name: command.help for name, command in COMMANDS.items()}
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(f"    {name}" in out for name in COMMANDS)

def test_the_command_is_found_after_global_options() -> None:
    assert command_name(["-v", "--log-file", "x.log", "sweep", "--sim"]) == "sweep"
    assert command_name(["--log-file", "inspect", "report"]) == "report"
    assert command_name(["--version"]) is None
    assert command_name(["nonsense"]) is None


def test_training_errors_are_printed_as_percentages() -> None:
    summary = {"baseline_error": 0.0825,
               "modes": {"unaware": {"dies": {"mean": 0.1369, "std": 0.1063, "yield": 0.5}}}}
    text = format_summary(summary, ("unaware",))
    assert "8.25 %" in text and "13.69 %" in text and "10.63 %" in text and "50.0 %" in text
    assert "+5.44 pt" in text
    assert "0.1369" not in text
