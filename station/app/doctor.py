"""Is this PC ready to run the station? The checks a front end shows, each with the command that fixes it.

udev rules and the plugdev group are Linux's; elsewhere there is one passing finding saying so,
so ``station doctor`` and a window's "check this PC" show the same answer on every OS.
"""

from __future__ import annotations

import sys

from station.hw.access import Finding

__all__ = ["Finding", "checks"]


def checks() -> list[Finding]:
    """Every finding (udev rules, the plugdev group, access to each attached probe and device, the
    registry setting)."""
    if sys.platform.startswith("linux"):
        from station.hw.access import diagnose

        return [*diagnose(), registry_setting()]
    return [Finding("udev rules", True, f"not needed on {sys.platform} (udev is Linux's)"), registry_setting()]


def registry_setting() -> Finding:
    """Whether the registry URL the station would open is one it can use (read, never connected to:
    a PC can be ready before its line's database server is). Every command that records or reads a
    run stops at a bad one, so the PC is not ready while it is there."""
    from station import paths, settings
    from station.config import file_value
    from station.errors import ConfigError
    from station.store.engine import parse_url, url_origin

    try:
        url = settings.get("db") or file_value("db")
        if not url:
            return Finding("registry", True, f"the station's own SQLite file {paths.registry_file()} (the default)")
        parse_url(url)
    except ConfigError as exc:
        return Finding("registry", False, str(exc))
    return Finding("registry", True, f"{settings.hide_password(url)} ({url_origin(url)}); not connected to by this check")
