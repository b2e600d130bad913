"""Listing and changing the station's settings from a front end (the GUI's settings dialog).

The table is :mod:`station.settings`; this module adds the two things a dialog needs and a CLI
could use the same way: every row resolved with *who may change it now* (the row's
``changed_by`` against the logged-in role: the core decides, the window only greys out), and a
save that checks the role again, parses the text with the row's own type, writes the value to the
one place the station keeps it between runs (the station file, ``station.toml``, through
``tomlkit`` so the engineer's comments and ``[slots]`` stay as they were) and records who changed
what in the audit log, granted or refused.

Only rows with a ``station.toml`` key can be saved: the others live in the environment or on the
command line of whoever starts the station, and a dialog writing them somewhere the station does
not read would be a change that silently does nothing. Secrets are never shown or saved here
(``station cloud login`` puts them in the OS keyring).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from station import settings as table
from station.app.settings import slot_workers_shown
from station.config import default_config_path, load_config, resolved_settings
from station.errors import ConfigError
from station.roles import Action, Role

AUDIT_ACTION = "setting-changed"
#: the SWD clocks a CMSIS-DAP / J-Link probe can be asked for: 1 kHz up to 50 MHz
SWD_HZ = (1_000, 50_000_000)


@dataclass(frozen=True)
class SettingRow:
    """One setting as a dialog shows it: never a secret's value."""

    name: str
    shown: str  # the value as it may be shown (a secret: set / not set; a URL's password: ***)
    text: str  # what the editor starts with ("" for a secret or an unset value)
    source: str  # flag, env, station.toml, default
    origin: str
    type: str
    default: str
    env: tuple[str, ...]
    file_key: str | None
    changed_by: str
    secret: bool
    help: str
    editable: bool  # this role may change it and the station file can hold it
    why_not: str  # when not editable: why, in words an operator understands

    @property
    def where(self) -> str:
        return f"{self.source} {self.origin}".strip()


@dataclass(frozen=True)
class Saved:
    """What a save did: the file written, the value now in it, and what still overrides it."""

    name: str
    file: Path
    shown: str
    removed: bool  # the key was taken out of the file: the default (or the environment) applies
    overridden_by: str | None  # an environment variable or flag that still wins over the file
    restart: bool  # the running station read it when it opened: takes effect at the next start


def may_change(role: Role | str | None, name: str) -> bool:
    """Whether ``role`` may change setting ``name``: the row's ``changed_by`` decides (fail closed)."""
    try:
        return role is not None and Role(role).rank >= table.setting(name).changed_by.rank
    except (ValueError, KeyError):
        return False


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def role_refusal(role: Role | str | None, s: table.Setting) -> str:
    """Why this role may not change the row (``""`` when it may): the refusal that is audited."""
    if may_change(role, s.name):
        return ""
    need = s.changed_by.value
    if role is None:
        return f"Nobody is logged in: changing {s.name} needs {_article(need)} {need}. Log in first."
    return (f"You are logged in as {role}: changing {s.name} needs {_article(need)} {need} or above. "
            f"Ask {_article(need)} {need} to log in.")


def why_not(role: Role | str | None, s: table.Setting) -> str:
    """Why the row cannot be changed here, or ``""`` when it can."""
    if s.secret:
        return (f"{s.name} is a credential: it is never shown or stored here; set {s.env[0]} or use "
                "`station cloud login`, which keeps it in the OS keyring.")
    if s.toml is None:
        flags = " or ".join(s.env)
        return (f"{s.name} comes from the environment ({flags}) or the command line that starts the station; "
                "the station file does not hold it, so it cannot be saved here.")
    return role_refusal(role, s)


def given(session: Any) -> dict[str, Any]:
    """The values the session was opened with (flags, the GUI's options): they outrank the file."""
    g = getattr(session, "given", None)
    if g is None:
        return {}
    return {"db": g.db_url, "cache": g.cache_dir, "config": g.config_path, "sim_dir": g.sim_dir,
            "station_name": g.station_name}


def config_file(session: Any) -> Path:
    """The station file the session reads (the one a save writes)."""
    chosen = table.get("config", given(session).get("config"))
    return Path(chosen) if chosen else default_config_path()


def rows(session: Any, role: Role | str | None) -> list[SettingRow]:
    """Every row of the table resolved as the session sees it (reads the station file: run off the GUI thread)."""
    values = resolved_settings(given(session))
    out = []
    for name, v in values.items():
        s = v.setting
        shown = v.shown
        if name == "cache" and v.value is None:
            from station.firmware.cache import default_cache_dir

            shown = str(default_cache_dir())
        if name == "slot_workers":  # a bench window's runs count its USB devices, not station.toml's slots
            shown = slot_workers_shown(values, usb=bool(getattr(getattr(session, "settings", None), "usb", False)))
        text = "" if s.secret or v.value is None else table.hide_password(str(v.value)) if name == "db" else str(v.value)
        if s.type is bool and v.value is not None:
            text = "yes" if v.value else "no"
        reason = why_not(role, s)
        out.append(SettingRow(
            name=name, shown=shown, text=text, source=v.source.value, origin=v.origin, type=s.type.__name__,
            default="(secret)" if s.secret else s.describe_default(), env=s.env, file_key=s.toml,
            changed_by=s.changed_by.value, secret=s.secret, help=s.help, editable=not reason, why_not=reason))
    return out


def check_value(name: str, text: str) -> Any:
    """``text`` as the setting's value, or ``ConfigError`` saying what was expected. Empty = unset."""
    s = table.setting(name)
    where = f"the {name} field"
    if not text.strip():
        return None
    value = s.parse(text, where)
    if name == "swd_frequency" and not SWD_HZ[0] <= value <= SWD_HZ[1]:
        raise ConfigError(f"{where}: an SWD clock between {SWD_HZ[0]:,} Hz and {SWD_HZ[1]:,} Hz, got {value:,}")
    if name == "db":
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if "***" in value:
            raise ConfigError(f"{where}: type the whole URL again, password included (it is shown as ***)")
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ConfigError(f"{where}: not a database URL (sqlite:///path or postgresql+psycopg://user@host/db)") \
                from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(f"{where}: the registry is SQLite or PostgreSQL, not {url.get_backend_name()}")
    if name == "station_name" and len(value) > 100:
        raise ConfigError(f"{where}: a station name has at most 100 characters")
    return value


def _write(path: Path, name: str, value: Any) -> None:
    """Set (or remove) the row's key in the station file, keeping everything else; atomic."""
    s = table.setting(name)
    assert s.toml is not None
    try:
        doc = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise ConfigError(f"{path}: cannot read the station file to change it: {exc}") from exc
    *parents, key = s.toml.split(".")
    node: Any = doc
    for part in parents:
        if part not in node:
            if value is None:
                return
            node[part] = tomlkit.table()
        node = node[part]
    if value is None:
        node.pop(key, None)
    else:
        node[key] = str(value) if isinstance(value, Path) else value
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".station-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(tomlkit.dumps(doc))
        load_config(tmp)  # the whole file must still be one the station opens
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(session: Any, name: str, text: str, *, operator: str | None, role: Role | str | None) -> Saved:
    """Check the role and the value, write the station file, audit it. Raises ``PermissionError``
    (refused: audited too) or ``ConfigError`` (bad value: nothing written)."""
    s = table.setting(name)
    who = operator or "(nobody)"
    refused = role_refusal(role, s)
    if refused:
        session.registry.audit_decision(Action.CHANGE_SETTINGS.value, operator=who, station=session.station,
                                        role=role, granted=False, reason=refused, details={"setting": name})
        raise PermissionError(refused)
    reason = why_not(role, s)
    if reason:
        raise ConfigError(reason)
    value = check_value(name, text)
    path = config_file(session)
    before = resolved_settings(given(session))[name]
    _write(path, name, value)
    after = resolved_settings(given(session))[name]
    shown = "(removed)" if value is None else table.Value(s, value, table.Source.FILE).shown
    session.registry.audit_decision(
        AUDIT_ACTION, operator=who, station=session.station, role=role, granted=True,
        details={"setting": name, "from": before.shown, "to": shown, "file": str(path)})
    over = after.where if after.source in (table.Source.ENV, table.Source.EXPLICIT) else None
    return Saved(name=name, file=path, shown=shown, removed=value is None, overridden_by=over, restart=True)
