"""Options and openers shared by the command groups, so every command reads flags/env the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from station.app import settings

F = TypeVar("F", bound=Callable[..., Any])


def setting_option(name: str, *decls: str, **kw: Any) -> Callable[[F], F]:
    """A click option for a row of the settings table: its default is the setting's value.

    The environment is read by :mod:`station.settings` (not by click's ``envvar=``), so a flag, its
    variable(s) and its aliases mean the same on every command and in ``station config show``.
    """
    s = settings.setting(name)
    kw.setdefault("default", lambda: settings.get(name))
    help_text = kw.pop("help", s.help)
    kw["help"] = f"{help_text} (env {' / '.join(s.env)})" if s.env else help_text
    return click.option(*decls, **kw)


def db_option(f: F) -> F:
    return setting_option(
        "db", "--db", "db_url",
        help="SQLAlchemy URL of the registry (default: SQLite in the user data dir).",
    )(f)


def cache_option(f: F) -> F:
    return setting_option(
        "cache", "--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
        help="Firmware cache directory.",
    )(f)


def sim_option(f: F) -> F:
    return setting_option(
        "sim_dir", "--sim-dir", "--dir", "sim_dir", type=click.Path(file_okay=False, path_type=Path),
        help="Use the simulated devices of this bench directory (--dir is the same option).",
    )(f)


def profile_option(help_text: str, *, required: bool = False) -> Callable[[F], F]:
    return setting_option(
        "profile", "--profile", "-p", type=click.Path(exists=True, dir_okay=False, path_type=Path),
        required=required, help=help_text,
    )


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)


def activate_sim(sim_dir: Path | None) -> None:
    """Talk to the twins of this bench (see :func:`station.app.bench.activate_sim`)."""
    from station.app.bench import activate_sim as activate

    activate(sim_dir)


def open_session(db_url: str | None = None, **settings_kw: Any) -> Any:
    """The application layer for a command: a :class:`station.app.StationSession` (registry opened lazily)."""
    from station.app import SessionSettings, StationSession

    return StationSession(SessionSettings(db_url=db_url, **settings_kw))


def open_cache(cache_dir: Path | None) -> Any:
    from station.app.firmware import open_cache as open_

    return open_(cache_dir)


def open_registry_cli(db_url: str | None, *, create: bool = False) -> Any:
    """Only commands that record a run pass ``create=True``; the others report a missing registry."""
    from station.app.registry import open_registry

    return open_registry(db_url, create=create)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=_json_value))


def _json_value(value: Any) -> Any:
    """Times as RFC 3339 with their zone (``…T19:34:49Z``), as exports write them; anything else as text."""
    from datetime import datetime

    from station.domain import rfc3339

    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)
