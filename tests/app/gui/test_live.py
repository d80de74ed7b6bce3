"""The live view against the rig simulator served over Modbus TCP on 127.0.0.1, and a growing CSV."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from app.core.live_session import LiveConfig, default_register_map
from app.gui.views.live import LivePanel
from ingestion.modbus.server import ModbusSimServer
from ingestion.profiles import load_profile
from ingestion.simulator import RigValueSource, get_scenario
from ingestion.workspace import open_workspace
from tests.app.gui.conftest import EQUIPMENT, save_screenshot

pytestmark = pytest.mark.gui


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _panel(qtbot, store):  # type: ignore[no-untyped-def]
    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.set_profile(load_profile("zema-test-rig"), EQUIPMENT, store)
    panel.resize(1366, 768)
    panel.show()
    errors: list[BaseException] = []
    panel.errorOccurred.connect(errors.append)
    return panel, errors


def test_live_view_on_the_modbus_simulator_records_and_shows_gaps(
    qtbot, sample_workspace: Path
) -> None:  # type: ignore[no-untyped-def]
    profile = load_profile("zema-test-rig")
    port = _free_port()
    server = ModbusSimServer(
        default_register_map(profile), RigValueSource(get_scenario("healthy"), 600.0), port=port
    ).start()
    store = open_workspace(sample_workspace)
    before = store.query("SELECT count(*) FROM measurements")[0][0]
    panel, errors = _panel(qtbot, store)
    try:
        assert panel.connect_feed(
            LiveConfig(kind="modbus_tcp", host="127.0.0.1", port=port, timeout_s=0.3)
        )
        qtbot.waitUntil(
            lambda: panel.session is not None and len(panel.session.snapshot().latest) == 17,
            timeout=10000,
        )
        qtbot.waitUntil(lambda: "● connected" in panel.state_label.text(), timeout=5000)
        qtbot.waitUntil(lambda: panel.table.item(0, 1).text() != "—", timeout=5000)  # PS1 value
        panel.record_button.setChecked(True)
        qtbot.waitUntil(lambda: panel.session.snapshot().values_written > 500, timeout=10000)
        curve = panel.curves["PS1"]
        assert len(curve.getOriginalDataset()[0]) > 20
        # The PLC goes away: the state says so and the outage becomes a gap.
        server.stop()
        qtbot.waitUntil(lambda: "reconnecting" in panel.state_label.text(), timeout=10000)
        server = ModbusSimServer(
            default_register_map(profile), RigValueSource(get_scenario("healthy"), 600.0), port=port
        ).start()
        qtbot.waitUntil(lambda: bool(panel.session.snapshot().gaps), timeout=15000)
        qtbot.waitUntil(lambda: panel.gaps_label.text().startswith("Gaps: 1"), timeout=5000)
        qtbot.waitUntil(lambda: "● connected" in panel.state_label.text(), timeout=10000)
        save_screenshot(panel, "live")
        panel.record_button.setChecked(False)
        panel.disconnect_feed()
    finally:
        server.stop()
    assert not errors
    rows = store.query("SELECT kind, status, value_count FROM sources WHERE kind = 'modbus'")
    assert len(rows) == 1 and rows[0][1] == "complete" and rows[0][2] > 500
    assert store.query("SELECT count(*) FROM measurements")[0][0] >= before + 500
    assert store.query("SELECT count(*) FROM gaps")[0][0] >= 1
    store.close()


def test_live_view_follows_a_growing_csv(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ingestion.catalog import ensure_equipment

    store = open_workspace(tmp_path / "ws.duckdb")
    with store.transaction() as con:
        ensure_equipment(con, EQUIPMENT, load_profile("zema-test-rig"))
    log = tmp_path / "logger.csv"
    log.write_text("time,PS1,TS1\n", encoding="utf-8")
    panel, errors = _panel(qtbot, store)
    # Not connected: 'no data yet', no meaningless 0–1 values or '00.100' times on the axes.
    assert panel.no_data.item.isVisible()
    assert not panel.plot.getAxis("left").style["showValues"]
    assert not panel.plot.getAxis("bottom").style["showValues"]
    assert panel.connect_feed(LiveConfig(kind="csv", csv_path=str(log)))
    t0 = time.time()
    with log.open("a", encoding="utf-8") as fh:
        for i in range(20):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i))
            fh.write(f"{stamp},{150 + i},{40.5}\n")
    qtbot.waitUntil(lambda: "PS1" in panel.session.snapshot().latest, timeout=10000)
    assert panel.session.snapshot().latest["PS1"][1] == pytest.approx(169.0)
    qtbot.waitUntil(lambda: not panel.no_data.item.isVisible(), timeout=5000)
    assert panel.plot.getAxis("left").style["showValues"]
    panel.disconnect_feed()
    assert not errors
    assert "disconnected" in panel.state_label.text()
    store.close()


def test_a_file_that_cannot_be_followed_is_refused_before_anything_runs(
    qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from ingestion.catalog import ensure_equipment

    store = open_workspace(tmp_path / "ws.duckdb")
    with store.transaction() as con:
        ensure_equipment(con, EQUIPMENT, load_profile("zema-test-rig"))
    binary = tmp_path / "capture.bin"
    binary.write_bytes(b"\x00\x01PK\x03\x04" * 100)
    panel, errors = _panel(qtbot, store)
    assert not panel.connect_feed(LiveConfig(kind="csv", csv_path=str(binary)))
    assert panel.session is None
    assert len(errors) == 1 and "capture.bin" in str(errors[0]) and "binary" in str(errors[0])
    waiting = tmp_path / "not-yet.csv"  # a logger that has not started: waited for, not refused
    assert panel.connect_feed(LiveConfig(kind="csv", csv_path=str(waiting)))
    panel.disconnect_feed()
    assert store.query("SELECT count(*) FROM sources")[0][0] == 0  # nothing recorded, nothing begun
    store.close()


def test_connecting_to_nothing_reports_instead_of_hanging(qtbot, sample_workspace: Path) -> None:  # type: ignore[no-untyped-def]
    store = open_workspace(sample_workspace)
    panel, errors = _panel(qtbot, store)
    started = time.monotonic()
    assert panel.connect_feed(
        LiveConfig(kind="modbus_tcp", host="127.0.0.1", port=_free_port(), timeout_s=0.2)
    )
    assert time.monotonic() - started < 2.0  # the window is not blocked by the dead device
    qtbot.wait(1500)
    text = panel.state_label.text()
    assert "● connected" not in text
    assert "reconnecting" in text or "connecting" in text or errors, text
    panel.disconnect_feed()
    assert "disconnected" in panel.state_label.text()
    store.close()


@pytest.mark.slow
def test_rolling_health_while_recording_a_growing_csv(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Three minutes of simulated 1 Hz rig data arrive in a logger file while recording: the
    rolling diagnosis (engine + a stand-in contract model) plots the overall health."""
    import numpy as np

    from gnn.graph import MODEL_ENV
    from ingestion.catalog import ensure_equipment
    from ingestion.simulator import Conditions, RigSimulator
    from tests.app.cli.test_demo import _stand_in_model

    monkeypatch.setenv(MODEL_ENV, str(_stand_in_model(tmp_path / "model")))
    store = open_workspace(tmp_path / "ws.duckdb")
    with store.transaction() as con:
        ensure_equipment(con, EQUIPMENT, load_profile("zema-test-rig"))
    sim = RigSimulator(0, rate_hz=1.0)
    cycles = [sim.next_cycle(Conditions()) for _ in range(3)]  # [sensor, 60] each
    log = tmp_path / "logger.csv"
    log.write_text("time," + ",".join(sim.sensors) + "\n", encoding="utf-8")
    panel, errors = _panel(qtbot, store)
    config = LiveConfig(
        kind="csv", csv_path=str(log), diagnose_every_s=1.0, diagnose_window_s=600.0
    )
    assert panel.connect_feed(config)
    panel.record_button.setChecked(True)
    t0 = time.time() - 180
    with log.open("a", encoding="utf-8") as fh:
        for c, cycle in enumerate(cycles):
            values = np.asarray(cycle)
            for k in range(values.shape[1]):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + c * 60 + k))
                fh.write(stamp + "," + ",".join(f"{v:.4f}" for v in values[:, k]) + "\n")
    qtbot.waitUntil(lambda: bool(panel.session.snapshot().health), timeout=30000)
    qtbot.waitUntil(lambda: panel.health_plot.isVisible(), timeout=5000)
    assert (
        panel.health_label.text().startswith("Rolling health: ")
        and "%" in panel.health_label.text()
    )
    x, y = panel.health_curve.getData()
    assert len(x) >= 1 and 0.0 <= float(y[-1]) <= 1.0
    save_screenshot(panel, "live-rolling-health")
    panel.disconnect_feed()
    assert not errors, errors
    assert (
        store.query("SELECT count(*) FROM diagnoses")[0][0] == 0
    )  # rolling results are not stored
    assert store.query("SELECT count(*) FROM measurements")[0][0] >= 180 * 17 * 0.9
    store.close()
