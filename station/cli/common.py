"""Options and openers shared by the command groups, so every command reads flags/env the same way."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def db_option(f: F) -> F:
    return click.option(
        "--db",
        "db_url",
        envvar="STATION_DB",
        default=None,
        help="SQLAlchemy URL of the registry (env STATION_DB; default: SQLite in the user data dir).",
    )(f)


def cache_option(f: F) -> F:
    return click.option(
        "--cache",
        "cache_dir",
        envvar="STATION_CACHE",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Firmware cache directory (env STATION_CACHE).",
    )(f)


def sim_option(f: F) -> F:
    return click.option(
        "--sim-dir",
        envvar="STATION_SIM_DIR",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Use the simulated devices of this bench directory (env STATION_SIM_DIR).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)


def activate_sim(sim_dir: Path | None) -> None:
    """Choose the twin backends for this process when a bench directory is given.

    This is the CLI's half of "the only place that knows about the twin": it hands the bench to
    :mod:`station.hw.backend`, which wires pyusb and serial discovery; pyocd finds the ``sim``
    probe plugin itself through its entry point and the same environment variable.
    """
    if sim_dir is None:
        return
    os.environ["STATION_SIM_DIR"] = str(Path(sim_dir).resolve())
    from station.hw import backend

    backend.use_sim(Path(sim_dir).resolve())


def open_cache(cache_dir: Path | None) -> Any:
    from station.firmware.cache import FirmwareCache, default_cache_dir

    return FirmwareCache(cache_dir or default_cache_dir())


def open_registry_cli(db_url: str | None, *, create: bool = False) -> Any:
    """Only commands that record a run pass ``create=True``; the others report a missing registry."""
    from station.store.registry import open_registry

    return open_registry(db_url, create=create)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
