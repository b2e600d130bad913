"""Check a profile's firmware references against the firmware cache, before any device is touched.

A profile pins modules by SHA-256; this makes sure each one is in the cache and still hashes to
that value, is a Particle module of the role and version the profile claims, is built for the
profile's platform, and that the whole set can boot (dependency order satisfiable) both with the
product user part and with the factory-test user part.
"""

from __future__ import annotations

from station.domain import Transport
from station.errors import CacheError, FirmwareError, ProfileError
from station.firmware.base_image import (
    UICR_NRFFW1,
    BaseImage,
    base_image_facts,
    check_base_image,
)
from station.firmware.cache import FirmwareCache
from station.firmware.images import hex_segments
from station.firmware.module import ModuleInfo
from station.firmware.moduleset import check_module_set
from station.firmware.releases import MBR_PARAMS_PAGE_LEGACY, mbr_params_page, release
from station.profile.model import ModuleRef, Profile


def device_os_module_version(version: str) -> int | None:
    """The system module version of Device OS release ``version``, from Particle's own numbers.

    ``None`` for a release the station's table (:mod:`station.firmware.releases`) does not know:
    the check is then skipped rather than guessed (5.9.0 is 5901, not 5900).
    """
    rel = release(version)
    return rel.system if rel else None


def _field(profile: Profile, ref: ModuleRef) -> str:
    if ref is profile.product_firmware:
        return "firmware.product"
    if ref is profile.test_firmware:
        return "firmware.factory_test"
    return f"firmware.modules[{profile.modules.index(ref)}]"


def _check_ref(
    profile: Profile, ref: ModuleRef, cache: FirmwareCache
) -> tuple[ModuleInfo | None, list[ProfileError]]:
    where = _field(profile, ref)
    plat = profile.platform
    try:
        entry = cache.get(ref.sha256)
    except CacheError as exc:
        return None, [ProfileError(profile.path, f"{where}.sha256", f"{ref.role}: {exc}")]
    info = entry.info
    if info is None:
        problem = f"{ref.role}: {entry.name} is a {entry.kind} file, not a Particle module"
        return None, [ProfileError(profile.path, f"{where}.sha256", problem)]
    errors: list[ProfileError] = []
    if info.platform_id != plat.id:
        problem = f"{ref.role}: {entry.name} is built for platform {info.platform_id}, the profile is {plat.name} ({plat.id})"
        errors.append(ProfileError(profile.path, f"{where}.sha256", problem))
    if not info.crc_ok:
        errors.append(
            ProfileError(profile.path, f"{where}.sha256", f"{ref.role}: {entry.name} has a bad CRC")
        )
    user = info.function == ref.function and ref.function.name == "USER_PART"
    if info.function != ref.function or not (user or info.index == ref.index):
        problem = f"{entry.name} is {info.describe()}, not a {ref.role} module"
        errors.append(
            ProfileError(
                profile.path, f"{where}.role" if where.startswith("firmware.modules") else where, problem
            )
        )
    if info.version != ref.version:
        problem = f"{ref.role}: {entry.name} is version {info.version}, the profile says {ref.version}"
        errors.append(ProfileError(profile.path, f"{where}.version", problem))
    return info, errors


BASE_IMAGE_FIELD = "firmware.base_image.sha256"


def load_base_image(profile: Profile, cache: FirmwareCache) -> BaseImage:
    """The MBR and UICR words of the profile's base image, read from the cache (raises ``CacheError``)."""
    if profile.base_image is None:
        raise CacheError("the profile names no base image ([firmware.base_image])")
    entry = cache.get(profile.base_image)
    if entry.kind != "hex":
        raise CacheError(f"{entry.name} is a {entry.kind} file; a base image is Intel HEX (MBR page + UICR words)")
    try:
        return base_image_facts(hex_segments(entry.path.read_bytes()))
    except FirmwareError as exc:
        raise CacheError(f"{entry.name}: {exc}") from None


def _check_base_image(profile: Profile, cache: FirmwareCache) -> list[ProfileError]:
    """What the base image lacks for the MBR to reach the profile's bootloader."""
    try:
        base = load_base_image(profile, cache)
    except CacheError as exc:
        return [ProfileError(profile.path, BASE_IMAGE_FIELD, f"base image: {exc}")]
    errors = [ProfileError(profile.path, BASE_IMAGE_FIELD, f"base image: {why}") for why in check_base_image(base)]
    boot = next((r for r in profile.modules if r.role == "bootloader"), None)
    params = base.uicr.get(UICR_NRFFW1)
    if boot is not None and params is not None:
        # Device OS's bootloader (hw_config.c configure_uicr) sets NRFFW[1] itself when it is erased or
        # the legacy page; any other value stays, and the MBR would keep its parameters there.
        wanted = mbr_params_page(boot.version)
        if params not in (wanted, MBR_PARAMS_PAGE_LEGACY):
            problem = (
                f"base image: UICR.NRFFW[1] (MBR parameter page) is 0x{params:X}; bootloader v{boot.version} "
                f"uses 0x{wanted:X}"
            )
            errors.append(ProfileError(profile.path, BASE_IMAGE_FIELD, problem))
    return errors


def base_image_notes(profile: Profile) -> list[str]:
    """What an engineer should know about blank chips (not an error: stock modules carry MBR and UICR)."""
    if profile.base_image is None and profile.transport == Transport.SWD and profile.platform.mcu == "nrf52840":
        return [
            "no [firmware.base_image]: a blank nRF52840 (fresh from Nordic, or erased) would not boot after this "
            "run (no MBR page, no UICR.NRFFW[0] bootloader address); only parts that already carry them can be "
            "provisioned"
        ]
    return []


def check_profile_firmware(profile: Profile, cache: FirmwareCache) -> list[ProfileError]:
    """Every problem with the profile's firmware against ``cache`` (empty when it can be flashed)."""
    errors: list[ProfileError] = []
    if profile.base_image is not None:
        errors.extend(_check_base_image(profile, cache))
    infos: dict[str, ModuleInfo] = {}
    for ref in profile.all_modules:
        info, problems = _check_ref(profile, ref, cache)
        errors.extend(problems)
        if info is not None and not problems:
            infos[ref.role] = info
    system = next((r for r in profile.modules if r.role == "system-part1"), None)
    wanted = device_os_module_version(profile.device_os_version)
    if system is not None and wanted is not None and system.version != wanted:
        problem = (
            f"Device OS {profile.device_os_version} is system module version {wanted}, "
            f"but system-part1 is version {system.version}"
        )
        errors.append(ProfileError(profile.path, "firmware.device_os_version", problem))
    if errors:
        return errors  # the set check would only repeat the same problems
    dos = [infos[r.role] for r in profile.modules]
    user_parts = [("firmware.product", infos["user-product"])]
    if profile.test_firmware is not None:
        user_parts.append(("firmware.factory_test", infos["user-factory-test"]))
    for where, user in user_parts:
        try:
            check_module_set([*dos, user], profile.platform.id,
                             names={info.file_sha256: role for role, info in infos.items()})
        except FirmwareError as exc:
            errors.append(ProfileError(profile.path, where, f"the module set cannot boot: {exc}"))
    return errors
