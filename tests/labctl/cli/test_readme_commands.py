"""Every command of the README's "Everyday commands" block, as written, in order, in a fresh
folder: each exits 0.

They run as a user runs them (the ``labctl`` console script, one process each). ``sim serve``
keeps running for the commands after it (``station check --station data/stations/sim.toml``
reaches it) and is stopped with Ctrl-C (SIGINT) at the end; ``gui`` opens offscreen and is
closed with Ctrl-C once its window is up, which must end it cleanly (exit 0, no traceback).
About two minutes in all on two cores (training and ``reproduce --quick`` dominate).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
#: Longest any one command may take (reproduce --quick: about a minute on two cores).
COMMAND_TIMEOUT_S = 280
#: How long a standalone simulator or the window may take to come up.
START_TIMEOUT_S = 60


def readme_commands() -> list[str]:
    """The command lines of the README's "Everyday commands" block, comments removed."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Everyday commands\n\n```sh\n(.*?)```", text, re.S)
    assert block is not None, "README.md has no Everyday commands block"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line.startswith("labctl ")]


COMMANDS = readme_commands()


def labctl() -> list[str]:
    """The console script next to this interpreter (as installed), else ``python -m``."""
    script = Path(sys.executable).with_name("labctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "labctl.cli.main"]


@dataclass
class Bench:
    """The folder the commands run in, and the processes that outlive their line."""

    folder: Path
    env: dict[str, str]
    background: dict[str, subprocess.Popen[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "data").symlink_to(REPO / "data", target_is_directory=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    state = Bench(folder, env)
    yield state
    for process in state.background.values():  # a failed test left one running
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _serve(bench: Bench, argv: list[str]) -> None:
    process = subprocess.Popen(argv, cwd=bench.folder, env=bench.env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    bench.background["sim serve"] = process
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.split()[:1] == ["controller"]:
            return
    process.kill()
    pytest.fail(f"sim serve did not come up: {''.join(seen)} {process.stderr.read() if process.stderr else ''}")  # noqa: E501


def _handles_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler (the window installs it last, just
    before its event loop starts)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(re.search(r"SigCgt:\s*([0-9a-f]+)", status).group(1), 16)  # type: ignore[union-attr]
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _window_then_ctrl_c(bench: Bench, argv: list[str]) -> None:
    process = subprocess.Popen(argv, cwd=bench.folder, env=bench.env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_TIMEOUT_S
    if Path("/proc/self/status").exists():
        while not _handles_sigterm(process.pid) and process.poll() is None:
            assert time.monotonic() < deadline, "the window did not come up"
            time.sleep(0.2)
        time.sleep(1.0)  # the event loop running
    else:
        time.sleep(15.0)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=START_TIMEOUT_S)
    assert process.returncode == 0, (out, err)
    assert "Traceback" not in err, err


@pytest.mark.parametrize("line", COMMANDS, ids=[" ".join(c.split()[1:3]) for c in COMMANDS])
def test_readme_command(bench: Bench, line: str) -> None:
    argv = [*labctl(), *shlex.split(line)[1:]]
    words = line.split()
    if words[1:3] == ["sim", "serve"]:
        _serve(bench, argv)
        return
    if words[1] == "gui":
        _window_then_ctrl_c(bench, argv)
        return
    result = subprocess.run(argv, cwd=bench.folder, env=bench.env, text=True,
                            capture_output=True, timeout=COMMAND_TIMEOUT_S)
    assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr


def test_the_standalone_simulator_stops_on_ctrl_c(bench: Bench) -> None:
    process = bench.background.pop("sim serve", None)
    if process is None:
        pytest.skip("the README starts no standalone simulator")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=START_TIMEOUT_S)
    assert process.returncode == 0, (out, err)
    assert "simulated station stopped" in out


def test_the_block_shows_every_command() -> None:
    """Each sub-command a lab user needs appears in the block (evaluate included)."""
    shown = {line.split()[1] for line in COMMANDS}
    assert {"sim", "station", "tour", "sweep", "inspect", "report", "gui", "train", "evaluate",
            "program", "validate", "reproduce"} <= shown
