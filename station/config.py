"""Station configuration: which probe sits in which fixture slot, the station's name, defaults.

A fixture's wiring does not change between runs, so it lives in a file (``station.toml``) rather
than on the command line: ``[slots]`` maps slot names to probe unique IDs
(``"3" = "0240000034544e45…"``). Looked up in ``--config``, then ``STATION_CONFIG``, then the
user config directory, then the site-wide one (:mod:`station.paths`). Every field is optional.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from station import paths
from station.errors import ConfigError


@dataclass(frozen=True)
class StationConfig:
    name: str = field(default_factory=socket.gethostname)
    slots: dict[str, str] = field(default_factory=dict)  # slot name -> probe unique ID
    swd_frequency: int = 4_000_000
    path: Path | None = None


def default_config_path() -> Path:
    return paths.default_config_file()


def load_config(path: str | Path | None = None) -> StationConfig:
    explicit = path or os.environ.get(paths.CONFIG_ENV)
    p = Path(explicit) if explicit else default_config_path()
    if not p.exists():
        if explicit:
            raise ConfigError(f"{p}: station configuration file not found")
        return StationConfig()
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
    return StationConfig(
        name=str(st.get("name") or socket.gethostname()),
        slots={str(k): v for k, v in slots.items()},
        swd_frequency=int(st.get("swd_frequency", 4_000_000)),
        path=p,
    )


def parse_slot_map(text: str) -> dict[str, str]:
    """``"1=UID,2=UID"`` → ``{"1": "UID", "2": "UID"}``; ``ConfigError`` on anything else."""
    out: dict[str, str] = {}
    for part in filter(None, (x.strip() for x in text.split(","))):
        name, sep, uid = part.partition("=")
        if not sep or not name.strip() or not uid.strip():
            raise ConfigError(f"--slots: expected SLOT=PROBE_ID pairs separated by commas, got {part!r}")
        out[name.strip()] = uid.strip()
    return out
