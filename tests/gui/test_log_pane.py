"""Log pane: records from worker threads arrive in the GUI thread, highlighted by level."""

from __future__ import annotations

import logging
import threading

from gui.log_pane import LogPane


def test_records_from_another_thread_reach_the_pane(qtbot):
    pane = LogPane()
    qtbot.addWidget(pane)
    logger = logging.getLogger("gui.test-log-pane")
    pane.attach(logger)
    try:
        worker = threading.Thread(target=lambda: logger.warning("from a worker <thread>"))
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: any("from a worker <thread>" in line for line in pane.lines()))
        logger.debug("too detailed")
        pane.message("from the GUI")
        assert not any("too detailed" in line for line in pane.lines())
        assert pane.lines()[-1].endswith("gui: from the GUI")
        assert "WARNING" in pane.lines()[0]
        assert "color:#a05a00" in pane.document().toHtml()
    finally:
        pane.detach(logger)
    logger.warning("after detach")
    qtbot.wait(50)
    assert not any("after detach" in line for line in pane.lines())
