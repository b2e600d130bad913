"""The firmware a profile asks for, resolved from the cache and checked before any device is touched.

Everything here raises :class:`~station.errors.InputError` subclasses: a wrong file is the
engineer's problem, found once at the start of a run (exit 2, nothing flashed), not per device.
Each device run then calls :meth:`FirmwareSet.reverify` so a byte that changed in the cache after
the run started is still caught before it reaches a device.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.domain import FlashImage, ModuleFunction
from station.errors import CacheError, CacheMissing, FirmwareError
from station.firmware.base_image import BaseImage, check_base_image
from station.firmware.cache import FirmwareCache
from station.firmware.module import ModuleInfo, module_flash_image, parse_module
from station.firmware.moduleset import check_module_set
from station.profile.firmware_check import load_base_image
from station.profile.model import ModuleRef, Profile


@dataclass(frozen=True)
class ResolvedModule:
    ref: ModuleRef
    info: ModuleInfo
    image: FlashImage

    @property
    def sha256(self) -> str:
        return self.ref.sha256


@dataclass(frozen=True)
class FirmwareSet:
    """Device OS modules in flash order, the product user part, and the optional test user part."""

    device_os: tuple[ResolvedModule, ...]
    product: ResolvedModule
    test: ResolvedModule | None
    cache: FirmwareCache
    #: the MBR page and UICR words a blank chip gets ([firmware.base_image]); None if the profile names none
    base: BaseImage | None = None

    @property
    def all_modules(self) -> tuple[ResolvedModule, ...]:
        extra = (self.test,) if self.test else ()
        return (*self.device_os, self.product, *extra)

    def reverify(self) -> None:
        """Re-read every file from the cache (each read checks its SHA-256)."""
        for m in self.all_modules:
            self.cache.read(m.sha256)

    @property
    def mcu_modules(self) -> tuple[ResolvedModule, ...]:
        """The Device OS modules that live in the MCU's flash (everything but the NCP firmware)."""
        return tuple(m for m in self.device_os if m.info.function != ModuleFunction.NCP)

    @property
    def ncp(self) -> ResolvedModule | None:
        """The NCP (ESP32) firmware, which only Device OS can write, over the control protocol."""
        return next((m for m in self.device_os if m.info.function == ModuleFunction.NCP), None)

    @property
    def device_os_images(self) -> list[FlashImage]:
        """What a flasher writes to the MCU: the NCP firmware is not in its flash, so not here."""
        return [m.image for m in self.mcu_modules]

    @property
    def system_part_image(self) -> FlashImage | None:
        """The system part as written: its first page is the boot gate (station.firmware.boot_gate)."""
        return next((m.image for m in self.mcu_modules if m.info.function == ModuleFunction.SYSTEM_PART), None)

    def system_version(self) -> int:
        """Module version of the system part: what the device must report after flashing."""
        for m in self.device_os:
            if m.info.function == ModuleFunction.SYSTEM_PART:
                return m.info.version
        raise FirmwareError("the profile's module set has no system part")


def _resolve(cache: FirmwareCache, ref: ModuleRef) -> ResolvedModule:
    try:
        data = cache.read(ref.sha256)
    except CacheMissing as exc:
        raise CacheMissing(
            f"the profile's {ref.role} ({ref.sha256[:12]}…) is not in the firmware cache {cache.root}: "
            "add its file with `station cache add FILE` (or point --cache / STATION_CACHE at the cache that "
            "has it; for the demo profiles, `station firmware demo` builds and caches them)") from exc
    info = parse_module(data)
    if info.version != ref.version:
        raise FirmwareError(
            f"{ref.role} ({ref.sha256[:12]}…) reports module version {info.version}, "
            f"the profile expects {ref.version}"
        )
    if not info.crc_ok:
        raise FirmwareError(f"{ref.role} ({ref.sha256[:12]}…) has a bad CRC: the file is corrupt")
    label = f"{ref.role} v{info.version}"
    return ResolvedModule(ref=ref, info=info, image=module_flash_image(data, info, label=label))


def resolve_firmware(profile: Profile, cache: FirmwareCache) -> FirmwareSet:
    """Load, verify and order everything the profile flashes; raise InputError on any problem."""
    dos = [_resolve(cache, r) for r in profile.modules]
    product = _resolve(cache, profile.product_firmware)
    test = _resolve(cache, profile.test_firmware) if profile.test_firmware else None
    for user in (product, test):
        if user is not None and user.info.function != ModuleFunction.USER_PART:
            raise FirmwareError(f"{user.ref.role} is a {user.info.function.name.lower()} module, not a user part")
    # The platform/CRC/dependency check covers the Device OS set with each user part in turn.
    roles = {m.info.file_sha256: m.ref.role for m in (*dos, product, *([test] if test else []))}
    ordered = check_module_set([m.info for m in dos] + [product.info], profile.platform.id, names=roles)
    if test is not None:
        check_module_set([m.info for m in dos] + [test.info], profile.platform.id, names=roles)

    def key(i: ModuleInfo) -> tuple[ModuleFunction, int, int]:  # the identity of a module in a set
        return (i.function, i.index, i.start)

    by_key = {key(m.info): m for m in dos}
    dos_ordered = tuple(by_key[key(i)] for i in ordered if key(i) in by_key)
    return FirmwareSet(device_os=dos_ordered, product=product, test=test, cache=cache, base=_base(profile, cache))


def _base(profile: Profile, cache: FirmwareCache) -> BaseImage | None:
    """The profile's base image, refused at the start of the run if it could not make a chip boot."""
    if profile.base_image is None:
        return None
    try:
        base = load_base_image(profile, cache)
    except CacheError as exc:
        raise FirmwareError(f"base image: {exc}") from None
    problems = check_base_image(base)
    if problems:
        raise FirmwareError(f"base image {profile.base_image[:12]}…: " + "; ".join(problems))
    return base
