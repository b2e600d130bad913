"""``station gui``: the operator window. PySide6 is imported only when this command runs, so every
other command works without the ``gui`` extra."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import click

from station.cli.common import cache_option, db_option, profile_option, sim_option
from station.errors import ConfigError


def register(cli: click.Group) -> None:
    @cli.command()
    @profile_option("Product profile to run.")
    @click.option("--lot", help="Lot name (default: PRODUCT-YYYYMMDD-STATION).")
    @click.option("--operator", help="Who is at the station (default: the login name).")
    @click.option("--usb", is_flag=True, help="Bench mode: every Particle device plugged in over USB gets a card.")
    @click.option("--labels", "labels_dir", type=click.Path(file_okay=False, path_type=Path),
                  help="Write label files into this directory.")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--station", "station_name", help="Station name recorded on every attempt.")
    @click.option("--no-auto-start", is_flag=True, help="Do not start a slot when a board or device appears.")
    @click.option("--demo", is_flag=True, help="Open on a bench of simulated devices (own registry and cache).")
    @click.option("--demo-transport", type=click.Choice(["usb", "swd"]), default="usb", show_default=True)
    @click.option("--devices", "demo_devices", type=click.IntRange(1, 16), default=4, show_default=True,
                  help="Demo over SWD: how many fixture slots.")
    @click.option("--realtime", is_flag=True, help="Demo: twins take as long as real hardware would.")
    @click.option("--size", metavar="WxH", help="Window size instead of maximised (e.g. 1366x768).")
    @click.option("--demo-answer", type=click.Choice(["yes", "no"]), default=None,
                  help="Smoke test: answer every operator question with this choice.")
    @click.option("--quit-after", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
                  help="Smoke test: start every slot, leave once all have a result (exit 0 if all PASS, "
                       "else 1), or after SECONDS (exit 1).")
    @db_option
    @cache_option
    @sim_option
    def gui(**kw: Any) -> None:
        """Open the operator window (needs the gui extra: pip install 'station[gui]')."""
        if importlib.util.find_spec("PySide6") is None:  # asked without importing: Qt stays in station.ui
            raise ConfigError("the window needs PySide6: pip install 'station[gui]'")
        from station.ui.app import GuiOptions, run

        size = None
        if kw["size"]:
            try:
                w, h = (int(x) for x in kw["size"].lower().split("x"))
                size = (w, h)
            except ValueError as exc:
                raise ConfigError(f"--size {kw['size']!r}: expected WIDTHxHEIGHT, e.g. 1366x768") from exc
        opts = GuiOptions(profile=kw["profile"], lot=kw["lot"], operator=kw["operator"], db_url=kw["db_url"],
                          cache_dir=kw["cache_dir"], config_path=kw["config_path"], sim_dir=kw["sim_dir"],
                          station_name=kw["station_name"], labels_dir=kw["labels_dir"], usb=kw["usb"],
                          demo=kw["demo"], demo_transport=kw["demo_transport"], demo_devices=kw["demo_devices"],
                          realtime=kw["realtime"], auto_start=not kw["no_auto_start"], size=size,
                          smoke_answer=kw["demo_answer"], quit_after=kw["quit_after"])
        sys.exit(run(opts))
