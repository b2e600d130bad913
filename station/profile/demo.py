"""The demo profiles shipped inside the package (``station demo``, ``station gui --demo``).

They are package data (``station/profile/demo_profiles/``), reached through
:func:`station.paths.package_file`, so an installed wheel or a frozen bundle finds them as well
as a source checkout does.
"""

from __future__ import annotations

from pathlib import Path

from station.errors import ConfigError
from station.paths import package_file


def demo_profiles_dir() -> Path:
    return package_file("station.profile", "demo_profiles")


def demo_platforms() -> list[str]:
    return sorted(p.stem.removeprefix("demo-") for p in demo_profiles_dir().glob("demo-*.toml"))


def demo_profile(platform: str) -> Path:
    """The shipped demo profile for ``platform``; ConfigError naming the ones there are otherwise."""
    path = demo_profiles_dir() / f"demo-{platform}.toml"
    if not path.is_file():
        raise ConfigError(f"no demo profile for {platform!r} in {demo_profiles_dir()} "
                          f"(have: {', '.join(demo_platforms()) or 'none'})")
    return path
