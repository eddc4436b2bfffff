"""Reads the wafer file in a worker thread, so a slow disk or a large file never stalls the
window; the GUI thread only checks the file's stamp and draws what comes back."""

from __future__ import annotations

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from gui.wafer_data import WaferFileWatcher, read_update
from labctl.core.errors import LabctlError


class _Reader(QObject):
    loaded = pyqtSignal(object)  # FileUpdate
    failed = pyqtSignal(str, str)  # path, message

    @pyqtSlot(object, object, object)
    def read(self, watcher: WaferFileWatcher, die: str | None,
             shown: tuple[str, str, str] | None) -> None:
        try:
            update = read_update(watcher, die, shown)
        except LabctlError as exc:
            self.failed.emit(str(watcher.path), str(exc))
            return
        self.loaded.emit(update)


class FileReader(QObject):
    """One read at a time: :meth:`request` returns False while a read is in flight."""

    loaded = pyqtSignal(object)  # FileUpdate
    failed = pyqtSignal(str, str)
    _requested = pyqtSignal(object, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._busy = False
        self._thread = QThread(self)
        self._thread.setObjectName("wafer-file-reader")
        self._reader = _Reader()
        self._reader.moveToThread(self._thread)
        self._requested.connect(self._reader.read)
        self._reader.loaded.connect(self._loaded)
        self._reader.failed.connect(self._failed)
        self._thread.finished.connect(self._reader.deleteLater)
        self._thread.start()

    def busy(self) -> bool:
        return self._busy

    def request(self, watcher: WaferFileWatcher, die: str | None,
                shown: tuple[str, str, str] | None) -> bool:
        if self._busy:
            return False
        self._busy = True
        self._requested.emit(watcher, die, shown)
        return True

    def stop(self) -> None:
        self._thread.quit()
        self._thread.wait(10000)

    def _loaded(self, update: object) -> None:
        self._busy = False
        self.loaded.emit(update)

    def _failed(self, path: str, message: str) -> None:
        self._busy = False
        self.failed.emit(path, message)
