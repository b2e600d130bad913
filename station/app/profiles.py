"""Product profiles as a front end handles them: load, check (with the firmware cache), summarise.

``check`` gathers every problem at once (an engineer fixes them in one pass) and, when a cache is
there, proves each referenced module is present, intact, for the right platform, and bootable as
a set; the window's profile editor and ``station profile check`` call the same function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from station.errors import ProfileError
    from station.firmware.cache import FirmwareCache
    from station.profile.model import Profile

__all__ = ["ProfileCheck", "check_profile", "demo_profile", "load_profile", "profile_summary"]


def load_profile(path: str | Path) -> Profile:
    """Parse and validate; the first :class:`~station.errors.ProfileError` is raised."""
    from station.profile.load import load_profile as load

    return load(path)


def demo_profile(platform: str) -> Path:
    """The shipped demo profile for ``platform`` (``boron``, ``bsom``)."""
    from station.profile.demo import demo_profile as demo

    return demo(platform)


@dataclass
class ProfileCheck:
    """What ``check_profile`` found: every problem, notes for the engineer, the cache it checked against."""

    errors: list[ProfileError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cache: FirmwareCache | None = None

    @property
    def valid(self) -> bool:
        return not self.errors


def check_profile(path: Path, cache_dir: Path | None) -> ProfileCheck:
    """Every problem in the file; when it is valid and a cache is there, every firmware problem too."""
    from station.app.firmware import cache_for_check
    from station.profile.firmware_check import base_image_notes, check_profile_firmware
    from station.profile.load import validate_profile

    result = ProfileCheck(errors=validate_profile(path))
    if not result.errors:
        loaded = load_profile(path)
        result.notes = base_image_notes(loaded)
        result.cache = cache_for_check(cache_dir)
        if result.cache is not None:
            result.errors = check_profile_firmware(loaded, result.cache)
    return result


def profile_summary(profile: Profile) -> dict[str, Any]:
    """What a valid profile says, as plain data (``station profile show --json``, the editor's overview)."""
    return {
        "name": profile.name,
        "product": profile.product,
        "platform": profile.platform.name,
        "platform_id": profile.platform.id,
        "device_os_version": profile.device_os_version,
        "transport": profile.transport.value,
        "finish": profile.finish,
        "reprovision": profile.reprovision,
        "overrides": list(profile.overrides),
        "modules": [{"role": m.role, "sha256": m.sha256, "version": m.version} for m in profile.all_modules],
        "tests": [{"name": s.name, "kind": s.kind, "required": s.required} for s in profile.tests],
        "label": {
            "width_mm": profile.label.width_mm,
            "height_mm": profile.label.height_mm,
            "dpi": profile.label.dpi,
            "formats": list(profile.label.formats),
        },
        "cloud": {
            "particle_product": profile.cloud.particle_product,
            "particle_groups": list(profile.cloud.particle_groups),
            "import_sims": profile.cloud.import_sims,
            "claim_user": profile.cloud.claim_user,
            "peridio_product_prn": profile.cloud.peridio_product_prn,
            "peridio_cohort_prn": profile.cloud.peridio_cohort_prn,
            "peridio_tags": list(profile.cloud.peridio_tags),
        },
    }
