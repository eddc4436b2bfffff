"""The file reader thread: snapshots and die tiles arrive as signals; errors too."""

from __future__ import annotations

import threading

import gui.file_reader
from gui.file_reader import FileReader
from gui.wafer_data import WaferFileWatcher, read_update


def test_read_update_skips_tiles_the_view_already_shows(synthetic_wafer):
    synthetic_wafer.complete("die_02_00", seed=1)
    watcher = WaferFileWatcher(synthetic_wafer.path)
    first = read_update(watcher, "die_02_00", None)
    assert first.tiles is not None and len(first.tiles) == 2
    shown = first.snapshot.die_key("die_02_00")
    assert read_update(watcher, "die_02_00", shown).tiles is None
    synthetic_wafer.running("die_03_00", seed=2, rows_done=3)
    running = read_update(watcher, "die_03_00", None)
    again = read_update(watcher, "die_03_00", running.snapshot.die_key("die_03_00"))
    assert again.tiles is not None  # a running die is always re-read


def test_reads_happen_in_the_reader_thread(synthetic_wafer, qtbot, monkeypatch):
    synthetic_wafer.complete("die_02_00", seed=1)
    threads: list[threading.Thread] = []

    def recording_read_update(*args):
        threads.append(threading.current_thread())
        return read_update(*args)

    monkeypatch.setattr(gui.file_reader, "read_update", recording_read_update)
    reader = FileReader()
    try:
        with qtbot.waitSignal(reader.loaded, timeout=10000) as loaded:
            assert reader.request(WaferFileWatcher(synthetic_wafer.path), "die_02_00", None)
            assert reader.busy() and not reader.request(
                WaferFileWatcher(synthetic_wafer.path), None, None)
        update = loaded.args[0]
        assert update.snapshot.statuses["die_02_00"] == "complete" and update.tiles
        assert threads and threads[0] is not threading.main_thread()
        assert not reader.busy()
    finally:
        reader.stop()


def test_an_unreadable_file_is_reported(tmp_path, qtbot):
    reader = FileReader()
    bad = tmp_path / "bad.h5"
    bad.write_text("no")
    try:
        with qtbot.waitSignal(reader.failed, timeout=10000) as failed:
            reader.request(WaferFileWatcher(bad), None, None)
        assert failed.args[0] == str(bad) and "not an HDF5 file" in failed.args[1]
        assert not reader.busy()
    finally:
        reader.stop()
