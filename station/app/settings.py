"""The settings table and the station's files as a front end lists them (``station config show``,
the window's settings dialog).

The table itself is :mod:`station.settings` (one declared row per setting, read in one place);
this module gives a front end what it shows: one row per setting with its value and where the
value came from, and where each of the station's folders and files is. Path helpers here import
platformdirs only when called, so a command's option parsing stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.settings import Setting, Value, env_var, get, setting

if TYPE_CHECKING:
    from station.paths import Location

__all__ = ["Setting", "env_var", "get", "locations", "logs_dir", "path_component", "setting", "settings_rows",
           "slot_workers_shown"]


def settings_rows(config_path: Path | None, *, usb: bool = False) -> list[dict[str, Any]]:
    """One row per setting, with ``station.toml`` in the chain; secrets shown only as set / not set.
    ``usb``: as a bench station (``--usb``) runs, for the rows that depend on it (slot_workers)."""
    from station.config import resolved_settings
    from station.firmware.cache import default_cache_dir

    values = resolved_settings({"config": config_path})
    rows = []
    for name, v in values.items():
        shown = v.shown
        if name == "cache" and v.value is None:
            shown = str(default_cache_dir())
        if name == "slot_workers":
            shown = slot_workers_shown(values, usb=usb)
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


def slot_workers_shown(values: dict[str, Value], *, usb: bool = False) -> str:
    """The slot_workers value with what ``auto`` resolves to on this station and why (a person reading
    ``station config show`` should not have to know the rule to know whether slots get workers).

    Counted as a run counts (:meth:`station.app.session.StationSession.planned_slots`): a line
    station, station.toml's slots; a bench station (``usb``) never counts them (its slots are the USB
    devices attached at each Start), and neither does a station.toml without slots. A registry
    other processes cannot open gives threads whatever the count."""
    from sqlalchemy.exc import ArgumentError

    from station.config import load_config
    from station.errors import ConfigError
    from station.pipeline.runner import AUTO, resolve, shareable

    v = values["slot_workers"]
    if v.value != AUTO:
        return v.shown
    path = values["config"].value
    try:
        slots = len(load_config(path).slots) if not usb and path is not None and Path(path).exists() else 0
        if not slots:
            if not shareable(values["db"].value):
                r = resolve(AUTO, slots=2, registry_url=values["db"].value)  # threads for any count
                return f"auto → {r.name} (the registry is in memory: other processes cannot open it)"
            counted = ("a bench station: each run counts the USB devices attached at its Start, not "
                       "station.toml's slots" if usb else "station.toml names no slots: each run counts the "
                       "probes or devices it finds")
            return f"auto ({counted}; worker processes from 2 slots on)"
        r = resolve(AUTO, slots=slots, registry_url=values["db"].value)
    except (ConfigError, ArgumentError) as exc:
        return f"auto (not resolved: {exc})"
    return f"auto → {r.name} ({r.why.removeprefix('auto: ')}, counting station.toml's slots)"


def locations() -> list[Location]:
    """Where the station configuration, registry, cache, labels and logs live now, and why."""
    from station.paths import locations as where

    return where()


def logs_dir() -> Path:
    from station.paths import logs_dir as where

    return where()


def path_component(name: str, *, limit: int = 80) -> str:
    """``name`` (a lot, a product) as exactly one file-name component (see :func:`station.paths.path_component`)."""
    from station.paths import path_component as component

    return component(name, limit=limit)
