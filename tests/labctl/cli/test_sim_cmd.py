"""`labctl sim serve --faults SPEC`: the faults are announced, injected and counted on exit;
a bad SPEC is refused in one line before anything is served."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading

import pytest

from labctl.cli.main import main


def test_a_bad_spec_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "serve", "--faults", "prober:garble=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "probability (0 ... 1), got 2" in err[0]


def test_serve_injects_and_counts_the_faults() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "labctl.cli.main", "sim", "serve", "--faults", "prober:error=1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        printed = [lines.get(timeout=60) for _ in range(6)]
        assert printed[1] == "  injecting faults: prober:error=1.0"
        _, host, port, _ = printed[2].split()[1].split("::")
        with socket.create_connection((host, int(port)), timeout=10) as client:
            client.sendall(b"StepFirstDie\n")
            assert client.recv(200).startswith(b"520: Prober busy")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        reader.join(timeout=10)
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert any(line.split()[0] == "prober" and "injected: 1 error" in line for line in rest)
        assert rest[-1] == "simulated station stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
