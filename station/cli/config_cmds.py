"""``station config``: the settings table, each value with where it came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from station.cli.common import echo_json, json_option


def settings_rows(config_path: Path | None) -> list[dict[str, Any]]:
    """One row per setting, secrets shown only as set / not set."""
    from station.config import resolved_settings
    from station.firmware.cache import default_cache_dir

    values = resolved_settings({"config": config_path})
    rows = []
    for name, v in values.items():
        shown = v.shown
        if name == "cache" and v.value is None:
            shown = str(default_cache_dir())
        rows.append({
            "name": name,
            "value": shown,
            "source": v.source.value,
            "origin": v.origin,
            "env": list(v.setting.env),
            "file_key": v.setting.toml,
            "type": v.setting.type.__name__,
            "default": "(secret)" if v.setting.secret else v.setting.describe_default(),
            "changed_by": v.setting.changed_by.value,
            "secret": v.setting.secret,
            "help": v.setting.help,
        })
    return rows


def register(cli: click.Group) -> None:
    @cli.group("config")
    def config() -> None:
        """The station's settings (one table: flags, environment, station.toml, defaults)."""

    @config.command("show")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Station file to read (env STATION_CONFIG).")
    @json_option
    def show(config_path: Path | None, as_json: bool) -> None:
        """List every setting, its value and where the value came from."""
        from station.paths import locations

        rows = settings_rows(config_path)
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
