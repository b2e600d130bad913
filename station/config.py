"""Station configuration: which probe sits in which fixture slot, the station's name, defaults.

A fixture's wiring does not change between runs, so it lives in a file (``station.toml``) rather
than on the command line: ``[slots]`` maps slot names to probe unique IDs
(``"3" = "0240000034544e45…"``). Looked up in ``--config``, then ``STATION_CONFIG``, then the
user config directory, then the site-wide one (:mod:`station.paths`). Every field is optional. The ``[station]`` keys are
rows of the settings table (:mod:`station.settings`), so an environment variable (``STATION_NAME``,
``STATION_SWD_FREQUENCY``) overrides the file the same way for every front end.
"""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station import paths, settings
from station.errors import ConfigError

#: the ``[station] slot_workers`` choices (:mod:`station.pipeline.runner` resolves ``auto`` for a run)
SLOT_WORKER_CHOICES = ("auto", "thread", "process")


@dataclass(frozen=True)
class StationConfig:
    name: str = field(default_factory=socket.gethostname)
    slots: dict[str, str] = field(default_factory=dict)  # slot name -> probe unique ID
    swd_frequency: int = 4_000_000
    slot_workers: str = "auto"
    path: Path | None = None


def default_config_path() -> Path:
    return paths.default_config_file()


def load_config(path: str | Path | None = None) -> StationConfig:
    explicit = settings.get("config", path)
    p = Path(explicit) if explicit else default_config_path()
    if not p.exists():
        if explicit:
            raise ConfigError(f"{p}: station configuration file not found")
        return _config({}, None)
    try:
        raw = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read station configuration: {exc}") from exc
    st = raw.get("station", {})
    slots = raw.get("slots", {})
    if not isinstance(slots, dict) or not all(isinstance(v, str) for v in slots.values()):
        raise ConfigError(f'{p}: [slots] must map slot names to probe IDs, e.g. "1" = "0240000034544e45"')
    unknown = set(raw) - {"station", "slots"}
    if unknown:
        raise ConfigError(f"{p}: unknown section(s) {', '.join(sorted(unknown))} (known: station, slots)")
    if not isinstance(st, dict):
        raise ConfigError(f"{p}: [station] must be a table (name, swd_frequency)")
    if not st.get("name"):
        st = {k: v for k, v in st.items() if k != "name"}  # an empty name means the host's
    return _config({**raw, "station": st}, p, {str(k): v for k, v in slots.items()})


def check_slot_workers(value: str, where: str = "slot_workers") -> str:
    """``value`` if ``slot_workers`` accepts it, else a ``ConfigError`` listing the choices: the one
    check (and wording) for station.toml, the environment and a run's own setting (pipeline.runner)."""
    if value not in SLOT_WORKER_CHOICES:
        raise ConfigError(f"slot_workers = {value!r} ({where}): expected one of {', '.join(SLOT_WORKER_CHOICES)}")
    return value


def _config(raw: dict[str, object], path: Path | None, slots: dict[str, str] | None = None) -> StationConfig:
    values = settings.resolve(file=raw, file_path=path, names=("station_name", "swd_frequency", "slot_workers"))
    workers = check_slot_workers(str(values["slot_workers"].value), values["slot_workers"].where)
    return StationConfig(
        name=str(values["station_name"].value or socket.gethostname()),
        slots=slots or {},
        swd_frequency=int(values["swd_frequency"].value),
        slot_workers=workers,
        path=path,
    )


def resolved_settings(explicit: Mapping[str, Any] | None = None) -> dict[str, settings.Value]:
    """Every row of the settings table resolved, with the station file in the chain.

    What ``station config show`` and the GUI's settings dialog list: ``explicit`` holds what the
    front end was given (``{"config": path, "db": url}``; ``None`` = not given). The station file
    is the one ``config`` resolves to; a file that is named but missing is a ``ConfigError``.
    """
    explicit = dict(explicit or {})
    chosen = settings.get("config", explicit.get("config"))
    path = Path(chosen) if chosen else default_config_path()
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read station configuration: {exc}") from exc
    elif chosen:
        raise ConfigError(f"{path}: station configuration file not found")
    values = settings.resolve(explicit, file=raw, file_path=path if path.exists() else None)
    if values["config"].value is None:
        values["config"] = settings.Value(values["config"].setting, path, settings.Source.DEFAULT)
    return values


def file_value(name: str, path: str | Path | None = None) -> Any:
    """The value the station file gives a setting (``[station] db = "postgresql+psycopg://…"``), or None.

    For settings read below the front ends (the registry URL): the file is the one ``path``,
    ``STATION_CONFIG`` or the default location names; a file that is named but missing or broken
    is a ``ConfigError`` as for :func:`load_config`.
    """
    s = settings.setting(name)
    if s.toml is None:
        return None
    chosen = settings.get("config", path)
    p = Path(chosen) if chosen else default_config_path()
    if not p.exists():
        if chosen:
            raise ConfigError(f"{p}: station configuration file not found")
        return None
    try:
        raw = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read station configuration: {exc}") from exc
    value = settings.lookup_file(raw, s.toml)
    return None if value is None else s.coerce(value, f"{p} [{s.toml}]")


def parse_slot_map(text: str) -> dict[str, str]:
    """``"1=UID,2=UID"`` → ``{"1": "UID", "2": "UID"}``; ``ConfigError`` on anything else."""
    out: dict[str, str] = {}
    for part in filter(None, (x.strip() for x in text.split(","))):
        name, sep, uid = part.partition("=")
        if not sep or not name.strip() or not uid.strip():
            raise ConfigError(f"--slots: expected SLOT=PROBE_ID pairs separated by commas, got {part!r}")
        out[name.strip()] = uid.strip()
    return out
