"""History → a device's full record, as an operator or engineer opens it (headless, real twins).

Two units run: one passes, one's battery is flat. The History tab lists both from the registry's
paged attempts read model; opening the failed row shows its steps with durations, the battery
reading against its limits, the modules flashed; the passed unit's record shows its labels, its
queued cloud entries and its audit entries; Particle's sticker (serial, a space, the mobile
secret) opens the same record without the secret showing anywhere.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableWidget
from pytestqt.qtbot import QtBot

from station.labels.payload import label_payload
from station.ui.cardmodel import CardState

from .conftest import DEMO_BORON, Station, wedge

pytestmark = pytest.mark.slow


def column(table: QTableWidget, header: str) -> list[str]:
    c = next(i for i in range(table.columnCount()) if table.horizontalHeaderItem(i).text() == header)
    return [table.item(r, c).text() for r in range(table.rowCount())]


def texts(dialog: Any) -> str:
    out = [dialog.heading.text(), dialog.status.text()]
    for t in dialog.findChildren(QTableWidget):
        out += [t.item(r, c).text() for r in range(t.rowCount()) for c in range(t.columnCount()) if t.item(r, c)]
    return "\n".join(out)


def test_history_opens_the_full_record(qtbot: QtBot, station: Station, qtmodeltester: Any) -> None:
    # slot_workers pinned to thread: the record is read back from the registry, which both runners write alike
    # (tests/pipeline/test_slot_workers.py compares their records); the window's close test keeps workers
    w = station.open(2, slot_workers="thread")
    good, flat = station.twins
    flat.set_faults(measurement_overrides={"battery": 3.1})
    w.start_all()

    def tap_yes_and_done() -> bool:
        """Touch 'yes' on whichever card asks; true once both cards have finished."""
        done = 0
        for slot in ("1", "2"):
            card = station.card(slot)
            if card.view.prompt is not None and card.prompt_panel.buttons:
                qtbot.mouseClick(card.prompt_panel.buttons[0], Qt.MouseButton.LeftButton)
            done += card.view.state in (CardState.PASS, CardState.FAIL, CardState.ERROR)
        return done == 2

    qtbot.waitUntil(tap_yes_and_done, timeout=120_000)
    assert station.wait_state("1", CardState.PASS, CardState.FAIL, CardState.ERROR).view.state is CardState.PASS
    flat_card = station.wait_state("2", CardState.PASS, CardState.FAIL, CardState.ERROR)
    assert flat_card.view.failing_step == "battery"
    assert flat_card.view.headline == "Failed at: Battery voltage"  # the profile's title, not "Battery"
    w.session.registry.audit_decision("label-reprint", operator="tester", station="gui-test", role="operator",
                                      granted=True, device_id=good.device_id, details={"format": "png"})

    qtbot.keyClick(w, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)  # the History tab
    w.tabs.setCurrentWidget(w.history)
    w.history.requery()
    qtbot.waitUntil(lambda: w.history.model.complete and w.history.model.rowCount() == 2, timeout=10_000)
    qtmodeltester.check(w.history.model)
    qtbot.waitUntil(lambda: w.history.lot.count() == 2, timeout=10_000)  # every lot, and this run's
    assert w.history.lot.itemData(1) == w.lot_name
    shown = {w.history.model.index(r, 1).data(): w.history.model.index(r, 7).data() for r in range(2)}
    assert shown == {good.device_id: "passed", flat.device_id: "failed"}
    w.history.outcome.setCurrentIndex(w.history.outcome.findData("failed"))
    qtbot.waitUntil(lambda: w.history.model.complete and w.history.model.rowCount() == 1, timeout=10_000)
    # the failing step as the card says it; its technical name and the reason on hover
    assert w.history.model.index(0, 8).data() == "Battery voltage"
    assert w.history.model.index(0, 8).data(Qt.ItemDataRole.ToolTipRole).startswith("battery: 3.1")
    qtmodeltester.check(w.history.model)
    w.refresh_lot()  # the lot's failure chart names the step as the card did
    qtbot.waitUntil(lambda: ("Battery voltage", 1) in w.lot_panel.chart.bars, timeout=10_000)
    # a unit that failed its test is a failed unit, not a station error (issue 12)
    assert (w.lot_panel.values["failed"].text(), w.lot_panel.values["errors"].text()) == ("1", "0")

    # Enter on the row opens the unit's record
    w.history.table.setFocus()
    w.history.table.setCurrentIndex(w.history.model.index(0, 0))
    qtbot.keyClick(w.history.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(w.records) and w.records[-1].record is not None, timeout=10_000)
    rec = w.records[-1]
    assert rec.record.device_id == flat.device_id
    assert column(rec.attempts, "Result") == ["failed"] and column(rec.attempts, "Failed step") == ["Battery voltage (battery)"]
    steps = dict(zip(column(rec.steps, "Step"), column(rec.steps, "Seconds"), strict=True))
    assert {"identify", "flash", "verify", "functional-tests"} <= set(steps)
    assert all(float(s) >= 0 for s in steps.values()) and float(steps["flash"]) > 0
    assert dict(zip(column(rec.steps, "Step"), column(rec.steps, "Result"), strict=True))["functional-tests"] \
        == "failed"
    readings = dict(zip(column(rec.measurements, "Measurement"), column(rec.measurements, "Reading against limits"),
                        strict=True))
    assert readings["battery"] == "3.1 V in 3.5…4.3"
    results = dict(zip(column(rec.measurements, "Measurement"), column(rec.measurements, "Result"), strict=True))
    assert results["battery"] == "FAIL"
    steps_of = dict(zip(column(rec.measurements, "Measurement"), column(rec.measurements, "Step"), strict=True))
    assert steps_of["battery"] == "Battery voltage (battery)"
    flashed = set(column(rec.modules, "SHA-256"))
    assert "ce64904cb1f0041a9df328e8fedbde8920c8bd935cfb555c8913d40d12690e72" in flashed  # the profile's bootloader
    assert rec.detail.tabText(0) == f"Steps ({rec.steps.rowCount()})"
    rec.close()

    # Particle's data-matrix sticker: serial, a space, the mobile secret
    secret = "ABCDEFGHIJKLMNO"
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    target = QApplication.focusWidget() or w
    wedge(target, f"{good.identity.serial_number} {secret}")
    qtbot.waitUntil(lambda: len(w.records) and w.records[-1].record is not None
                    and w.records[-1].record.device_id == good.device_id, timeout=10_000)
    rec = w.records[-1]
    assert column(rec.attempts, "Result") == ["passed"]
    assert {"png", "pdf", "zpl"} <= set(column(rec.labels, "Format")), "the labels the profile prints"
    assert set(column(rec.cloud, "State")) == {"pending"} and len(column(rec.cloud, "Cloud")) >= 1
    assert column(rec.audit, "Action") == ["label-reprint"] and column(rec.audit, "Granted") == ["yes"]
    assert secret not in texts(rec) and secret not in w.message.text()
    rec.close()

    # the good unit's QR, but with the flat unit's serial: a label on the wrong board says so
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    target = QApplication.focusWidget() or w
    opened = len(w.records)
    wedge(target, label_payload(good.device_id, flat.identity.serial_number))
    qtbot.waitUntil(lambda: len(w.records) > opened and w.records[-1].record is not None, timeout=10_000)
    assert w.records[-1].status.text().startswith("LABEL MISMATCH: the label says serial "
                                                  f"{flat.identity.serial_number}")
    assert DEMO_BORON.exists()


def test_a_device_the_registry_does_not_hold_says_so(qtbot: QtBot, station: Station) -> None:
    w = station.open(0)
    dialog = w.open_record("e00fce68a1b2c3d4e5f60718")
    qtbot.waitUntil(lambda: "not in the registry" in dialog.status.text(), timeout=10_000)
    assert dialog.record is None and not dialog.print_button.isEnabled()
    dialog.close()


def test_a_reprint_from_the_record_is_previewed_saved_and_recorded(qtbot: QtBot, station: Station,
                                                                   tmp_path: Any) -> None:
    w = station.open(1)
    w.start_all()
    card = station.wait_prompt("1")
    qtbot.mouseClick(card.prompt_panel.buttons[0], Qt.MouseButton.LeftButton)
    assert station.wait_state("1", CardState.PASS, CardState.FAIL, CardState.ERROR).view.state is CardState.PASS
    twin = station.twins[0]
    qtbot.mouseClick(station.card("1").record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(w.records) and w.records[-1].record is not None, timeout=10_000)
    rec = w.records[-1]
    before = rec.labels.rowCount()
    qtbot.mouseClick(rec.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.menus.label_dialog is not None and w.menus.label_dialog.image is not None,
                    timeout=10_000)
    label = w.menus.label_dialog
    assert label.pdf_button.isEnabled() and label.print_button.isEnabled()
    assert label.info.serial_number == twin.identity.serial_number, "a reprint carries the registry's serial"
    out = label.save_pdf(tmp_path / "reprint.pdf")
    assert out.read_bytes().startswith(b"%PDF")
    qtbot.waitUntil(lambda: any(r.action == "label-reprint" for r in
                                w.session.registry.audit_page(device_id=twin.device_id).rows), timeout=10_000)
    [row] = w.session.registry.audit_page(action="label-reprint").rows
    assert (row.operator, row.details["format"], row.details["path"]) == ("tester", "pdf", str(out))
    label.close()
    rec.close()
    again = w.open_record(twin.device_id)
    qtbot.waitUntil(lambda: again.record is not None, timeout=10_000)
    assert again.labels.rowCount() == before + 1 and str(out) in column(again.labels, "File")
