"""Firmware work a front end does: open the cache, read a module file, check a set, make the demo set.

Reading a file a user names (a module, or Intel HEX holding one) and turning every failure into
one :class:`~station.errors.FirmwareError` line lives here, not in the command, so the window's
"add firmware" does the same. The module model itself is :mod:`station.firmware.module`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from station.errors import CacheError, FirmwareError
from station.firmware.module import ModuleInfo, parse_module, platform_label

if TYPE_CHECKING:
    from station.firmware.cache import CacheEntry, FirmwareCache

__all__ = ["ModuleInfo", "cache_for_check", "check_module_set", "default_cache_dir", "demo_filename",
           "demo_firmware", "install_demo_firmware", "module_info", "open_cache", "platform_label"]


def default_cache_dir() -> Path:
    """``$STATION_CACHE`` if set, else the per-user data directory's ``firmware_cache``."""
    from station.firmware.cache import default_cache_dir as default

    return default()


def open_cache(cache_dir: Path | None) -> FirmwareCache:
    """The firmware cache at ``cache_dir`` (None: the settings table's, else the user data folder's)."""
    from station.firmware.cache import FirmwareCache

    return FirmwareCache(cache_dir or default_cache_dir())


def cache_for_check(cache_dir: Path | None) -> FirmwareCache | None:
    """The cache a profile check proves its modules against: the one named (it must exist), else the
    default one if it exists, else None (the check then says the firmware was not checked)."""
    from station.firmware.cache import FirmwareCache

    if cache_dir is not None:
        if not cache_dir.is_dir():
            raise CacheError(f"firmware cache {cache_dir} does not exist")
        return FirmwareCache(cache_dir)
    default = default_cache_dir()
    return FirmwareCache(default) if default.is_dir() else None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FirmwareError(f"cannot read {path}: {exc.strerror or exc}") from exc


def module_info(path: Path) -> ModuleInfo:
    """A module file, or an Intel HEX file holding exactly one module; every problem names the file."""
    from station.firmware.images import load_firmware, looks_like_hex

    data = _read(path)
    if looks_like_hex(data):
        loaded = load_firmware(data)
        if loaded.info is None:
            raise FirmwareError(f"{path.name}: Intel HEX file does not hold a Particle module")
        return loaded.info
    try:
        return parse_module(data)
    except FirmwareError as exc:
        raise FirmwareError(f"{path.name}: {exc}") from exc


def check_module_set(modules: Sequence[ModuleInfo], platform_id: int, *, names: Mapping[str, str] | None = None,
                     wanted_by: str = "profile") -> list[ModuleInfo]:
    """The modules in flash order when they form a bootable set for the platform, else FirmwareError."""
    from station.firmware.moduleset import check_module_set as check

    return check(modules, platform_id, names=names, wanted_by=wanted_by)


def demo_firmware(platform: str) -> dict[str, bytes]:
    """The deterministic demo Device OS + user firmware for ``platform``: role -> module bytes."""
    from station.firmware.demo import build_demo_modules

    return build_demo_modules(platform)


def demo_filename(platform: str, key: str) -> str:
    from station.firmware.demo import demo_filename as name

    return name(platform, key)


def install_demo_firmware(cache: FirmwareCache, platform: str) -> dict[str, CacheEntry]:
    """Put the demo firmware set for ``platform`` into ``cache`` (what the demo profiles refer to)."""
    from station.firmware.demo import install_demo_firmware as install

    return install(cache, platform)
