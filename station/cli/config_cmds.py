"""``station config``: the settings table, each value with where it came from."""

from __future__ import annotations

from pathlib import Path

import click

from station.app.settings import settings_rows
from station.cli.common import echo_json, json_option

__all__ = ["register", "settings_rows"]


def register(cli: click.Group) -> None:
    @cli.group("config")
    def config() -> None:
        """The station's settings (one table: flags, environment, station.toml, defaults)."""

    @config.command("show")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Station file to read (env STATION_CONFIG).")
    @click.option("--usb", is_flag=True,
                  help="As a bench station runs (station gui --usb, provision --usb): slots are the USB devices "
                       "attached, not station.toml's.")
    @json_option
    def show(config_path: Path | None, usb: bool, as_json: bool) -> None:
        """List every setting, its value and where the value came from."""
        from station.app.settings import locations

        rows = settings_rows(config_path, usb=usb)
        places = [{"name": loc.name, "path": loc.path, "source": loc.source} for loc in locations()]
        if as_json:
            echo_json({"settings": rows, "locations": places})
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Station settings", show_lines=False)
        for col in ("setting", "value", "from", "environment", "may change", "what"):
            table.add_column(col, overflow="fold")
        for r in rows:
            where = r["source"] + (f" {r['origin']}" if r["origin"] else "")
            env = " / ".join(r["env"]) + (f" | station.toml {r['file_key']}" if r["file_key"] else "")
            table.add_row(r["name"], r["value"], where, env, r["changed_by"], r["help"])
        out = Console()
        if not out.is_terminal:  # a pipe or a file: wide enough that each row stays one line
            out = Console(width=200)
        out.print(table)
        where = Table(title="Files and folders")
        for col in ("what", "where", "because"):
            where.add_column(col, overflow="fold")
        for p in places:
            where.add_row(p["name"], p["path"], p["source"])
        out.print(where)
