"""Runs a labctl command in a child process (training, reproduce) and streams its output.

A separate process keeps torch's CPU work and any crash out of the window's process; the event
loop only sees lines of text and the exit code.

Stop sends SIGTERM and then waits, without a timer: a child that uses the station makes it safe
on the way out (its station session) and says so on its output (``labctl: station safe: ...``,
:data:`~labctl.services.station_session.SAFE_MARK`); ``safe_confirmed`` records that. Pressing
Stop again sends SIGTERM again (the child defers it while the safe state runs). A child that dies
without confirming leaves an external station to its guard process.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PyQt6.QtCore import QObject, QProcess, pyqtSignal

from labctl.services.station_session import SAFE_MARK


def labctl_command(args: Sequence[str]) -> list[str]:
    """The argv that runs ``labctl <args>`` with this interpreter (no PATH lookup needed)."""
    return [sys.executable, "-m", "labctl.cli.main", *args]


class ProcessRunner(QObject):
    """One child process at a time; ``line`` per output line, ``finished`` with the exit code."""

    line = pyqtSignal(str)
    finished = pyqtSignal(int)  # exit code; -1 when it could not start or crashed
    started = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._buffer = ""
        self._stopped = False
        #: The running (or last) child confirmed the station safe by read-back.
        self.safe_confirmed = False

    def running(self) -> bool:
        return self._process is not None

    def start(self, argv: Sequence[str], label: str) -> None:
        if self._process is not None:
            raise RuntimeError("a process is already running")
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self._process, self._buffer, self._stopped = process, "", False
        self.safe_confirmed = False
        shown = ["labctl", *argv[3:]] if list(argv[1:3]) == ["-m", "labctl.cli.main"] else argv
        self.line.emit(f"{label}: {' '.join(shown)}")
        process.start(argv[0], list(argv[1:]))
        self.started.emit()

    def stopping(self) -> bool:
        """Stop was requested and the child has not ended yet."""
        return self._process is not None and self._stopped

    def stop(self) -> None:
        """Ask the process to end (SIGTERM) and return at once; ``finished`` follows when it
        has ended (after making the station safe). Never kills it."""
        if self._process is not None:
            self._stopped = True
            self.line.emit("stop requested: waiting for the run to end with the station safe")
            self._process.terminate()

    def wait(self, timeout_ms: int) -> bool:
        return self._process is None or self._process.waitForFinished(timeout_ms)

    def _read(self) -> None:
        if self._process is None:
            return
        data = bytes(self._process.readAllStandardOutput().data()).decode(errors="replace")
        self._buffer += data.replace("\r", "\n")
        *lines, self._buffer = self._buffer.split("\n")
        for text in lines:
            if text.strip():
                self._note(text)
                self.line.emit(text)

    def _note(self, text: str) -> None:
        if text.startswith(SAFE_MARK):
            self.safe_confirmed = True

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read()
        if self._buffer.strip():
            self._note(self._buffer)
            self.line.emit(self._buffer)
        crashed = status == QProcess.ExitStatus.CrashExit
        if self._stopped:
            self.line.emit("stopped: station safe, confirmed by read-back" if self.safe_confirmed
                           else "stopped (no station-safe confirmation: the run did not hold "
                           "the station, or ended without making it safe)")
        self._done(-1 if crashed and not self._stopped else code)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.line.emit(f"could not start the process: {sys.executable}")
            self._done(-1)

    def _done(self, code: int) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
            self.finished.emit(code)

