"""`station provision`'s table names a failed functional test by its profile title, and its name."""

from __future__ import annotations

from rich.console import Console

from station.app.runs import SlotResult
from station.cli.progress import failed_step, results_table


def test_the_table_shows_the_title_beside_the_name_and_json_carries_both() -> None:
    bad = SlotResult(slot="1", transport="swd", device_id="e00fce68a1b2c3d4e5f60718", outcome="failed",
                     failing_step="battery", failing_step_title="Battery voltage", reason="2.71 V is below 3.5 V")
    flash = SlotResult(slot="2", transport="swd", device_id="e00fce68a1b2c3d4e5f60719", outcome="error",
                       failing_step="flash", failing_step_title="Flash", reason="the probe disconnected")
    assert failed_step(bad) == "Battery voltage (battery)"
    assert failed_step(flash) == "flash"  # a title that is only the name's words adds nothing
    console = Console(width=200, record=True)
    console.print(results_table([bad, flash]))
    assert "Battery voltage (battery)" in console.export_text()
    assert bad.to_dict()["failing_step"] == "battery" and bad.to_dict()["failing_step_title"] == "Battery voltage"
