"""Instruments panel: polls off the GUI thread, shows states, releases for a sweep."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gui.instruments_panel import InstrumentsPanel


@pytest.fixture
def make_panel(qtbot):
    panels = []

    def make(config):
        panel = InstrumentsPanel(config)
        qtbot.addWidget(panel)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def test_panel_shows_identity_and_state(make_panel, sim_config, qtbot):
    _, config = sim_config
    panel = make_panel(config)
    with qtbot.waitSignal(panel.status_updated, timeout=10000):
        panel.start()
    assert "Velox" in panel.value_text("prober", "idn")
    assert panel.value_text("prober", "contact") == "separated"
    assert panel.value_text("read_smu", "output") == "off"
    assert panel.value_text("read_smu", "trip") == "no"
    assert panel.value_text("controller", "routing") == "off"
    assert "connected" in panel.connection_label.text()
    assert panel.last_status.safe


def test_release_stops_polling_and_frees_the_instruments(make_panel, sim_config, qtbot):
    _, config = sim_config
    panel = make_panel(config)
    with qtbot.waitSignal(panel.status_updated, timeout=10000):
        panel.start()
    with qtbot.waitSignal(panel.released, timeout=10000):
        panel.release()
    assert "in use by the sweep" in panel.connection_label.text()
    assert not panel.refresh_button.isEnabled()
    with qtbot.assertNotEmitted(panel.status_updated, wait=300):
        panel.refresh()


def test_safe_state_button(make_panel, sim_config, qtbot):
    sim, config = sim_config
    sim.state.smus["read_smu"].output_on = True
    panel = make_panel(config)
    with qtbot.waitSignal(panel.status_updated, timeout=10000):
        panel.start()
    assert panel.value_text("read_smu", "output") == "ON"
    with qtbot.waitSignal(panel.status_updated, timeout=10000):
        panel.safe_button.click()
    assert not sim.state.smus["read_smu"].output_on
    assert panel.value_text("read_smu", "output") == "off"


def test_unreachable_station_is_shown_not_raised(make_panel, sim_config, qtbot):
    _, config = sim_config
    dead = {role: replace(inst, resource="TCPIP::127.0.0.1::1::SOCKET", timeout_s=0.5)
            for role, inst in config.instruments.items()}
    panel = make_panel(replace(config, instruments=dead))
    panel.start()
    qtbot.waitUntil(lambda: "NOT CONNECTED" in panel.connection_label.text(), timeout=10000)
    assert panel.value_text("prober", "idn") == "—"


def test_without_a_station_the_panel_is_inert(make_panel, qtbot):
    panel = make_panel(None)
    panel.start()
    assert not panel.has_station()
    assert "read-only" in panel.connection_label.text()
    with qtbot.waitSignal(panel.released, timeout=1000):
        panel.release()
