"""The station's settings: one declared table, read in one place.

Every knob a person can turn without editing code — the registry URL, the firmware cache, the
station file, the simulated bench, the cloud URLs and credentials, the station's name and SWD
clock — is one :class:`Setting` row in :data:`SETTINGS` (in the spirit of pyocd's
``core/options.py``): its name, type, default, environment variable(s), ``station.toml`` key, help
text and the least role that may change it. The CLI's options, ``station config show`` and the
GUI's settings dialog all list this table, so a setting cannot exist in one front end and not in
another, and this module is the only one that reads ``os.environ`` for them.

A value is resolved, highest first, from: an explicit value (a command-line flag, a field of the
GUI's dialog), the environment (the first variable of ``env`` that is set; later names are kept
aliases), the station file (``station.toml``), the default. :func:`resolve` says which one won.

The environment is read at each lookup, not cached at import: tests and ``--sim-dir`` change it
while the process runs. It sits just above :mod:`station.errors` and :mod:`station.roles` so that
the core's lowest modules (``config``, ``firmware.cache``, ``store.engine``, the twin) can use it.
"""

from __future__ import annotations

import enum
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.errors import ConfigError
from station.roles import Role

_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"", "0", "false", "no", "n", "off"})


class Source(enum.StrEnum):
    """Where a resolved value came from (``station config show`` prints it)."""

    EXPLICIT = "flag"  # a command-line flag or a field the front end set
    ENV = "env"
    FILE = "station.toml"
    DEFAULT = "default"


@dataclass(frozen=True)
class Setting:
    """One row of the table. ``type`` is one of ``str``, ``Path``, ``int``, ``float``, ``bool``."""

    name: str
    type: type
    help: str
    default: Any = None
    #: computes the default when it depends on the machine (the host name); wins over ``default``
    default_factory: Callable[[], Any] | None = None
    #: how the default is described when the owning module computes it (a per-user folder)
    default_text: str = ""
    #: environment variables, first the documented one, then aliases kept working
    env: tuple[str, ...] = ()
    #: ``section.key`` in ``station.toml``, if the station file may set it
    toml: str | None = None
    #: the least role that may change it (the GUI greys the field out for the others)
    changed_by: Role = Role.ADMIN
    #: a credential: its value is never shown, logged or stored, only whether it is set
    secret: bool = False

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def describe_default(self) -> str:
        if self.default_text:
            return self.default_text
        value = self.default_value()
        return "-" if value is None else str(value)

    def parse(self, text: str, where: str) -> Any:
        """``text`` (from ``where``: an env var or the station file) as this setting's type."""
        t = text.strip()
        if self.type is bool:
            low = t.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ConfigError(f"{where}={text!r}: expected yes/no (1/0, true/false) for {self.name}")
        if self.type in (int, float):
            try:
                return self.type(t)
            except ValueError:
                kind = "an integer" if self.type is int else "a number"
                raise ConfigError(f"{where}={text!r}: expected {kind} for {self.name} ({self.help.rstrip('.')})") from None
        if self.type is Path:
            return Path(t).expanduser() if t else None
        return t or None

    def coerce(self, value: Any, where: str) -> Any:
        """A value given in its own type (a flag, a TOML number) checked against the table's type."""
        if value is None or isinstance(value, str):
            return None if value is None else self.parse(value, where)
        if self.type is Path and isinstance(value, os.PathLike):
            return Path(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, self.type) and not (self.type is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"{where}: expected {self.type.__name__} for {self.name}, got {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("db", str, "SQLAlchemy URL of the registry (postgresql+psycopg://… for a line of stations).",
            default_text="SQLite in the user data directory", env=("STATION_DB",), toml="station.db"),
    Setting("cache", Path, "Firmware cache directory.", default_text="firmware_cache in the user data directory",
            env=("STATION_CACHE",), changed_by=Role.ENGINEER),
    Setting("config", Path, "Station file: fixture slots, station name, SWD clock.",
            default_text="station.toml in the user config directory", env=("STATION_CONFIG",)),
    Setting("profile", Path, "Product profile to run.", env=("STATION_PROFILE",), changed_by=Role.ENGINEER),
    Setting("profiles_dir", Path, "Folder of product profiles the window's profile chooser lists.",
            default_text="the chosen profile's folder, else ./profiles", env=("STATION_PROFILES_DIR",),
            toml="station.profiles_dir", changed_by=Role.ENGINEER),
    Setting("station_name", str, "Station name recorded on every attempt.", default_factory=socket.gethostname,
            env=("STATION_NAME",), toml="station.name"),
    Setting("swd_frequency", int, "SWD clock in Hz.", default=4_000_000, env=("STATION_SWD_FREQUENCY",),
            toml="station.swd_frequency", changed_by=Role.ENGINEER),
    Setting("slot_workers", str, "Where each slot's hardware work runs: auto (a worker process per slot when a "
            "run has 2 or more slots and a registry other processes can open, else threads), thread (one "
            "process) or process (a worker process per slot).", default="auto", env=("STATION_SLOT_WORKERS",),
            toml="station.slot_workers", changed_by=Role.ENGINEER),
    Setting("sim_dir", Path, "Simulated bench directory: use its twins instead of hardware.",
            env=("STATION_SIM_DIR",), changed_by=Role.ENGINEER),
    Setting("sim_realtime", bool, "Twins take as long as real devices (wall time tracks device time).",
            default=False, env=("STATION_SIM_REALTIME",), changed_by=Role.ENGINEER),
    Setting("particle_api", str, "Particle API base URL.", default="https://api.particle.io",
            env=("PARTICLE_API_URL", "STATION_PARTICLE_API")),  # named like PARTICLE_ACCESS_TOKEN; old name kept
    Setting("peridio_api", str, "Peridio API base URL.", default="https://api.peridio.com",
            env=("PERIDIO_API_URL", "STATION_PERIDIO_API")),  # named like PERIDIO_API_KEY; old name kept
    Setting("particle_token", str, "Particle access token (else the OS keyring: `station cloud login particle`).",
            env=("PARTICLE_ACCESS_TOKEN",), secret=True),
    Setting("peridio_key", str, "Peridio API key (else the OS keyring: `station cloud login peridio`).",
            env=("PERIDIO_API_KEY",), secret=True),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no setting {name!r} (known: {', '.join(BY_NAME)})") from None


def env_var(name: str) -> str:
    """The documented environment variable of a setting (for help texts and messages)."""
    return setting(name).env[0]


def from_env(name: str) -> tuple[Any, str] | None:
    """``(value, variable)`` from the first of the setting's variables that is set, else ``None``."""
    s = setting(name)
    for var in s.env:
        text = os.environ.get(var)
        if text is not None and (text.strip() or s.type is bool):
            return s.parse(text, var), var
    return None


def get(name: str, explicit: Any = None) -> Any:
    """The value without the station file: ``explicit``, else the environment, else the default.

    What a core module calls (``get("cache")``); settings the station file can hold are resolved
    with their file by :func:`resolve` (``station.config.load_config`` does this).
    """
    s = setting(name)
    if explicit is not None:
        return s.coerce(explicit, name)
    env = from_env(name)
    return env[0] if env is not None else s.default_value()


@dataclass(frozen=True)
class Value:
    """A resolved setting: the value, where it came from, and how to show it."""

    setting: Setting
    value: Any
    source: Source
    origin: str = ""  # the flag, variable or file that gave it

    @property
    def shown(self) -> str:
        """What a front end may print: a secret only as set/not set."""
        if self.setting.secret:
            return "set" if self.value else "not set"
        if self.value is None:
            return f"({self.setting.describe_default()})" if self.setting.default_text else "-"
        return hide_password(str(self.value))

    @property
    def where(self) -> str:
        return f"{self.source.value} {self.origin}".strip()


#: a URL's scheme, with however many slashes were typed after it (``postgresql+psycopg://``, a typo's ``:/``)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:/*", re.IGNORECASE)
#: a password given as a query parameter (libpq and psycopg take ``?password=``)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&\s]*", re.IGNORECASE)


def hide_password(text: str) -> str:
    """A URL's password as ``***`` (``postgresql+psycopg://line:***@db/station``): shown, never revealed.

    Errs on the side of hiding: the text is a value someone typed, perhaps wrongly (one slash after
    the scheme, no scheme, a password with ``/`` or ``@`` in it), and it goes into error messages,
    ``station doctor``'s output and tickets pasted from it. Whatever stands between the first ``:``
    of the user part and the last ``@`` is hidden, with or without ``//`` after a scheme, and so is
    a ``password=`` query parameter."""
    shown = _QUERY_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    at = shown.rfind("@")
    if at < 0:
        return shown
    scheme = _SCHEME.match(shown)
    start = scheme.end() if scheme is not None else 0
    colon = shown.find(":", start, at)
    if colon < 0 and scheme is not None and not scheme.group(0).endswith("/"):
        colon = scheme.end() - 1  # no scheme after all (``user:password@host/db``): its colon is the password's
    if colon < 0:
        return shown  # a user name alone, no password
    return shown[: colon + 1] + "***" + shown[at:]


def lookup_file(file: Mapping[str, Any], key: str) -> Any:
    """``station.name`` in a parsed TOML document, or ``None``."""
    node: Any = file
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def resolve(explicit: Mapping[str, Any] | None = None, *, file: Mapping[str, Any] | None = None,
            file_path: Path | None = None, names: tuple[str, ...] | None = None) -> dict[str, Value]:
    """Every setting (or ``names``) resolved: explicit > environment > station file > default.

    ``explicit`` maps setting names to values a front end was given (``None`` means not given);
    ``file`` is the parsed station file, ``file_path`` where it was read from (shown as origin).
    """
    explicit = explicit or {}
    unknown = set(explicit) - set(BY_NAME)
    if unknown:
        raise KeyError(f"no setting(s) {', '.join(sorted(unknown))}")
    out: dict[str, Value] = {}
    for s in SETTINGS if names is None else tuple(setting(n) for n in names):
        given = explicit.get(s.name)
        if given is not None:
            out[s.name] = Value(s, s.coerce(given, s.name), Source.EXPLICIT)
            continue
        env = from_env(s.name)
        if env is not None:
            out[s.name] = Value(s, env[0], Source.ENV, env[1])
            continue
        if s.toml and file is not None:
            raw = lookup_file(file, s.toml)
            if raw is not None:
                where = f"{file_path or 'station.toml'} [{s.toml}]"
                out[s.name] = Value(s, s.coerce(raw, where), Source.FILE, str(file_path or ""))
                continue
        out[s.name] = Value(s, s.default_value(), Source.DEFAULT)
    return out
