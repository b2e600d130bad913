"""Where the station keeps its files: its own (package data) and the user's (the OS's conventions).

Two kinds of path, both in one place so that neither ends up written as "relative to the source
tree", which stops being true the moment the station is installed from a wheel or frozen into a
bundle:

* **Package data** the station reads at run time (Alembic migrations, the demo profiles) is
  reached through :func:`package_file`, i.e. :mod:`importlib.resources`. A wheel, an editable
  install and a PyInstaller one-folder bundle all keep it as real files beside the modules;
  ``tests/packaging`` checks every ``package_file(...)`` the code asks for against the wheel's file
  list.
* **The user's data** follows platformdirs (XDG on Linux, ``%LOCALAPPDATA%`` on Windows): the
  station configuration, the SQLite registry, the firmware cache, labels and logs. An environment
  variable overrides each one the commands also take as an option (``STATION_CONFIG``,
  ``STATION_DB``, ``STATION_CACHE``). :func:`locations` says where each lives right now, and why,
  for ``station config show``.

The station configuration is also looked for in the site-wide config directory
(``/etc/xdg/station/station.toml`` on Linux) when the user has none: IT installs a factory PC
once, and every operator account on it then uses the same slots and the same registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

from station import settings

APP = "station"
CONFIG_ENV = settings.env_var("config")
DB_ENV = settings.env_var("db")
CACHE_ENV = settings.env_var("cache")
CONFIG_NAME = "station.toml"
REGISTRY_NAME = "station.db"

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: names Windows reserves in every folder (a label folder called CON cannot be created there)
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})


def path_component(name: str, *, limit: int = 80) -> str:
    """``name`` (a lot, a product) as exactly one file-name component, never a path.

    Lot names are typed by operators and scanned from travellers, and a folder is made from each
    (labels go to ``<labels>/<lot>/``): ``../../x`` must not write outside the labels folder, nor
    ``/etc`` name an absolute path, nor ``.`` reuse the parent. A name that is already safe
    (letters, digits, ``.``, ``_``, ``-``, not starting with a dot) is kept as it is, so existing
    folders stay where they are; any other name is cleaned and gets a short hash of the original,
    so two names that clean to the same text ("A/1", "A:1") still get folders of their own.
    """
    clean = _UNSAFE_IN_NAME.sub("_", name).strip("._")[:limit] or "_"
    if clean.split(".")[0].upper() in _RESERVED:
        clean = "_" + clean
    if clean == name:
        return clean
    return f"{clean}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def package_file(package: str, *parts: str) -> Path:
    """A file or folder shipped inside ``package``, as a real path.

    Alembic and the profile loader need file-system paths, and every way the station is installed
    (wheel, editable, one-folder bundle) keeps package data as files; a zipped install would not,
    and is refused here rather than failing later with a path that does not exist.
    """
    target = resources.files(package).joinpath(*parts)
    if not isinstance(target, Path):
        raise RuntimeError(f"{package}/{'/'.join(parts)} is not on the file system ({target!r}): "
                           "install the station from its wheel or bundle, not as a zip")
    return target


def user_config_file() -> Path:
    return platformdirs.user_config_path(APP) / CONFIG_NAME


def site_config_file() -> Path:
    """The machine-wide configuration (``/etc/xdg/station/station.toml``), shared by all accounts."""
    return platformdirs.site_config_path(APP) / CONFIG_NAME


def default_config_file() -> Path:
    """The user's configuration if it exists, else the site-wide one if that exists, else the user's
    (where ``station`` would look first, so where a new one belongs)."""
    user = user_config_file()
    if user.exists():
        return user
    site = site_config_file()
    return site if site.exists() else user


def data_dir() -> Path:
    return platformdirs.user_data_path(APP)


def registry_file() -> Path:
    """The station's own SQLite registry (one station; a line shares PostgreSQL instead)."""
    return data_dir() / REGISTRY_NAME


def firmware_cache_dir() -> Path:
    return data_dir() / "firmware_cache"


def labels_dir() -> Path:
    return data_dir() / "labels"


def logs_dir() -> Path:
    return platformdirs.user_log_path(APP)


def state_dir() -> Path:
    """Small files that must outlive a crash (e.g. attempts the registry still owes a close)."""
    return platformdirs.user_state_path(APP)


@dataclass(frozen=True)
class Location:
    """One of the station's files or folders: what it is, where it is now, and what decided that."""

    name: str
    path: str  # a path, or for the registry a URL with its password hidden
    source: str  # "default", "site default" or the environment variable that set it


def _registry_location() -> Location:
    url = settings.get("db")
    if not url:
        return Location("registry", str(registry_file()), "default")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        shown = settings.hide_password(make_url(url).render_as_string(hide_password=True))
    except (ArgumentError, ValueError):  # a malformed URL (ValueError: a port that is not a number): shown without what could be a user and password
        shown = url.rpartition("@")[2]
    return Location("registry", shown, DB_ENV)


def locations() -> list[Location]:
    """Where each of the station's files lives for this process (environment overrides applied)."""
    if settings.get("config"):
        config = Location("config", str(settings.get("config")), CONFIG_ENV)
    else:
        path = default_config_file()
        config = Location("config", str(path), "site default" if path == site_config_file() else "default")
    cache_env = settings.get("cache")
    cache = (Location("firmware cache", str(cache_env), CACHE_ENV) if cache_env
             else Location("firmware cache", str(firmware_cache_dir()), "default"))
    return [
        config,
        _registry_location(),
        cache,
        Location("labels", str(labels_dir()), "default"),
        Location("logs", str(logs_dir()), "default"),
        Location("state", str(state_dir()), "default"),
    ]


def write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, and on disk before it is named: a temporary file in the
    same folder, fsync, then rename over the old one (a crash or a full disk leaves the old file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
