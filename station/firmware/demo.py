"""A format-faithful Device OS 6.2.0 set for demos and tests: every address, version and dependency as
the release has them, with deterministic bodies.

Real Device OS binaries cannot be downloaded where the station is developed or demonstrated, so
the demo builds its own: every file is a genuine Particle module (Particle's binary-version-reader
parses it field by field the same way ``station firmware inspect`` does). What is *not* real is
the code inside (SHAKE-256 filler), so the same platform always gives the same bytes and
profiles can pin files by SHA-256.

Checked against particle-iot/device-os at tag v6.2.0:

=====================  =======  ==============================  ==============================================
module                 version  where                           depends on
=====================  =======  ==============================  ==============================================
bootloader             3100     0xF4000, prefix at +0x200       nothing (``BOOTLOADER_VERSION``; nRF52840 has no
                                                                ``BOOTLOADER_MODULE_DEPENDENCY``)
radio stack (S140      202      0x1000, no prefix in flash      bootloader >= 501, system-part1 >= 1321
7.0.1, FWID 0x00CA)             (DROP_MODULE_INFO)              (``build/create_module.py`` GEN3_RADIO_STACK_*)
system-part1           6200     0x28000, prefix at +0x200,      bootloader >= 3100, radio stack >= 202;
                                legacy vector table + module    Argon: the two swapped; Tracker: bootloader
                                info at 0x30000 / 0x30200       >= 3100 and system-part1 >= 3001 (no SoftDevice
                                                                dependency, NCP updates off since 5.6.0)
user part (product,    6        index 2, starts at 0xB4000      system-part1 >= 6200
factory test)                   (the 256 KB slot's start)       (``modules/shared/nRF52840/user_build.mk``)
=====================  =======  ==============================  ==============================================

Sources: ``build/version.mk`` and ``modules/shared/system_module_version.mk`` (versions and
dependencies), ``build/arm/linker/nrf52840/platform_flash.ld`` (addresses: SoftDevice 0x0–0x27000
with the MBR in its first page, MBR parameter page 0x27000, system-part1 0x28000–0xB4000, user
part 0xB4000–0xF4000, bootloader 0xF4000–0x100000), ``hal/src/nRF52840/ota_module_bounds.c`` and
``user_hal.cpp`` (Device OS runs the user part whose prefix is at its slot's start: the 128 KB
compat slot 0xD4000 first, then 0xB4000), ``dynalib/inc/module_info.inc`` and
``modules/shared/nRF52840/linker_system_part1_common.ld`` (the legacy module info at 0x30200 that
lets a pre-6.2 bootloader find the new system part, with its own CRC), ``build/module.mk`` (SHA and
CRC of linker-built modules).

The radio-stack body carries a SoftDevice info struct where S140 has it (magic 0x51B1E5DB at
0x3004, size 0x27000 at 0x3008, FWID at 0x300C), which is how Device OS and
:mod:`station.firmware.gen3` recognise it in flash after the prefix was dropped. The MBR page in
front of it is not a module; a blank chip gets it from a base image
(:mod:`station.firmware.base_image`).
"""

from __future__ import annotations

import struct

from station.domain import (
    GEN3_ADDR_BOOTLOADER,
    GEN3_ADDR_SOFTDEVICE,
    GEN3_ADDR_SYSTEM_PART1,
    GEN3_ADDR_USER_PART,
    ModuleFlags,
    ModuleFunction,
    platform_by_name,
)
from station.errors import FirmwareError
from station.firmware.appdesc import AppDescriptor
from station.firmware.base_image import demo_base_image
from station.firmware.build import Dep, build_module, filler, vector_table
from station.firmware.cache import CacheEntry, FirmwareCache
from station.firmware.gen3 import SD_FWID_OFFSET, SD_INFO_OFFSET, SD_MAGIC, SD_MAGIC_OFFSET, SD_SIZE_OFFSET
from station.firmware.module import crc32_be
from station.firmware.releases import RELEASES

DEVICE_OS_VERSION = "6.2.0"
SYSTEM_VERSION = RELEASES[DEVICE_OS_VERSION].system  # 6200
BOOTLOADER_VERSION = RELEASES[DEVICE_OS_VERSION].bootloader  # 3100
BOOTLOADER_DEPENDENCY = 3100
SOFTDEVICE_FWID = 0x00CA  # S140 7.0.1 (SOFTDEVICE_DEPENDENCY 202)
SOFTDEVICE_END = 0x27000  # S140 7.0.1 with the MBR: SD_SIZE_GET
RADIO_STACK_BOOTLOADER_DEPENDENCY = 501
RADIO_STACK_SYSTEM_DEPENDENCY = 1321
TRACKER_SYSTEM_DEPENDENCY = 3001
USER_PART_VERSION = 6
USER_PART_INDEX = 2
TRACKER_ID = 26
ARGON_ID = 12
LEGACY_SYSTEM_PART1 = 0x30000
_LEGACY_DYNALIB = 0x400

DEMO_KEYS = ("bootloader", "softdevice", "system-part1", "user-product", "user-factory-test")
BASE_IMAGE_KEY = "base-image"
_STACK_TOP = 0x20040000
# file sizes (bytes, including prefix, suffix and CRC); each a multiple of 16
_SIZE_BOOTLOADER = 44 * 1024
_SIZE_SOFTDEVICE = 150 * 1024
_SIZE_SYSTEM_PART1 = 548 * 1024
_SIZE_USER_PRODUCT = 48 * 1024
_SIZE_USER_FACTORY = 24 * 1024


def _body(seed: str, size: int, lead: bytes = b"") -> bytes:
    return lead + filler(seed, size - len(lead))


def _softdevice_body(platform: str, size: int) -> bytes:
    """SoftDevice image as it sits at 0x1000: filler plus the nRF info struct at +0x2000."""
    body = bytearray(filler(f"station-demo/{platform}/softdevice", size))
    sd_end = SOFTDEVICE_END  # SD_SIZE_GET is the end address (MBR included)
    struct.pack_into("<I", body, SD_INFO_OFFSET, 0xFFFFFF18)  # info struct size 0x18, rest 0xFF
    struct.pack_into("<I", body, SD_MAGIC_OFFSET, SD_MAGIC)
    struct.pack_into("<I", body, SD_SIZE_OFFSET, sd_end)
    struct.pack_into("<HH", body, SD_FWID_OFFSET, SOFTDEVICE_FWID, 0xFFFF)
    struct.pack_into("<II", body, SD_FWID_OFFSET + 4, 140, 7000001)  # SD ID, SD version (S140 7.0.1)
    return bytes(body)


def _system_deps(platform_id: int) -> list[Dep]:
    boot: Dep = (ModuleFunction.BOOTLOADER, 0, BOOTLOADER_DEPENDENCY)
    radio: Dep = (ModuleFunction.RADIO_STACK, 0, SOFTDEVICE_FWID)
    if platform_id == TRACKER_ID:
        return [boot, (ModuleFunction.SYSTEM_PART, 1, TRACKER_SYSTEM_DEPENDENCY)]
    if platform_id == ARGON_ID:
        return [radio, boot]
    return [boot, radio]


def _system_body(platform: str, platform_id: int, size: int, deps: list[Dep]) -> bytes:
    """system-part1's body with the legacy vector table and module info at 0x30000 / 0x30200.

    ``module_info_legacy`` (``dynalib/inc/module_info.inc``) spans 0x30000 to the end of the
    dynalib table and carries its own CRC (``build/module.mk`` writes it before the module's SHA
    and CRC): what a bootloader from before 6.2.0, which only looks at 0x30000, sees.
    """
    body = bytearray(_body(f"station-demo/{platform}/system-part1", size))
    at = LEGACY_SYSTEM_PART1 - GEN3_ADDR_SYSTEM_PART1 - 0x200 - 24  # file offset → body offset
    legacy_end = LEGACY_SYSTEM_PART1 + 0x200 + 24 + _LEGACY_DYNALIB
    body[at : at + 0x200] = vector_table(_STACK_TOP, LEGACY_SYSTEM_PART1)
    d1, d2 = (*deps, (0, 0, 0), (0, 0, 0))[:2]
    struct.pack_into(
        "<IIBBHHBBBBHBBH", body, at + 0x200, LEGACY_SYSTEM_PART1, legacy_end, 0, 0, SYSTEM_VERSION,
        platform_id, int(ModuleFunction.SYSTEM_PART), 1, int(d1[0]), d1[1], d1[2], int(d2[0]), d2[1], d2[2],
    )
    crc_at = at + (legacy_end - LEGACY_SYSTEM_PART1)
    body[crc_at : crc_at + 4] = crc32_be(bytes(body[at:crc_at]))
    return bytes(body)


def _user_part(platform: str, platform_id: int, desc: AppDescriptor, size: int, product_version: int) -> bytes:
    """A user part of ``size`` bytes at the start of the 256 KB slot, where Device OS looks for it."""
    body_size = size - 24 - 40 - 4
    body = _body(f"station-demo/{platform}/{desc.app}", body_size, desc.encode())
    return build_module(
        function=ModuleFunction.USER_PART,
        index=USER_PART_INDEX,
        version=USER_PART_VERSION,
        platform_id=platform_id,
        start=GEN3_ADDR_USER_PART,
        body=body,
        deps=[(ModuleFunction.SYSTEM_PART, 1, SYSTEM_VERSION)],
        product_id=platform_id,
        product_version=product_version,
    )


def build_demo_modules(platform: str) -> dict[str, bytes]:
    """The five demo modules for a Gen3 platform, same bytes on every call."""
    try:
        plat = platform_by_name(platform)
    except KeyError as exc:
        raise FirmwareError(str(exc.args[0])) from exc
    if plat.mcu != "nrf52840":
        raise FirmwareError(f"demo firmware exists only for nRF52840 platforms, not {platform}")
    pid = plat.id
    boot_head = vector_table(_STACK_TOP, GEN3_ADDR_BOOTLOADER)
    sys_head = vector_table(_STACK_TOP, GEN3_ADDR_SYSTEM_PART1)
    gen3_body = _SIZE_BOOTLOADER - 0x200 - 24 - 40 - 4
    sys_body = _SIZE_SYSTEM_PART1 - 0x200 - 24 - 40 - 4
    sd_payload = _SIZE_SOFTDEVICE - 24 - 36 - 4
    return {
        "bootloader": build_module(
            function=ModuleFunction.BOOTLOADER,
            index=0,
            version=BOOTLOADER_VERSION,
            platform_id=pid,
            start=GEN3_ADDR_BOOTLOADER,
            body=_body(f"station-demo/{platform}/bootloader", gen3_body),
            prefix_offset=0x200,
            head=boot_head,
            product_id=pid,
            product_version=0,
        ),
        "softdevice": build_module(
            function=ModuleFunction.RADIO_STACK,
            index=0,
            version=SOFTDEVICE_FWID,
            platform_id=pid,
            start=GEN3_ADDR_SOFTDEVICE,
            body=_softdevice_body(platform, sd_payload),
            deps=[
                (ModuleFunction.BOOTLOADER, 0, RADIO_STACK_BOOTLOADER_DEPENDENCY),
                (ModuleFunction.SYSTEM_PART, 1, RADIO_STACK_SYSTEM_DEPENDENCY),
            ],
            flags=ModuleFlags.DROP_MODULE_INFO,
            sha_over="body",
        ),
        "system-part1": build_module(
            function=ModuleFunction.SYSTEM_PART,
            index=1,
            version=SYSTEM_VERSION,
            platform_id=pid,
            start=GEN3_ADDR_SYSTEM_PART1,
            body=_system_body(platform, pid, sys_body, _system_deps(pid)),
            deps=_system_deps(pid),
            prefix_offset=0x200,
            head=sys_head,
            product_id=pid,
            product_version=0,
        ),
        "user-product": _user_part(
            platform,
            pid,
            AppDescriptor("product", "AUTOMATIC", f"{platform}-demo-product", "1.0.0"),
            _SIZE_USER_PRODUCT,
            product_version=3,
        ),
        "user-factory-test": _user_part(
            platform,
            pid,
            AppDescriptor("factory-test", "MANUAL", f"{platform}-factory-test", "1.0.0"),
            _SIZE_USER_FACTORY,
            product_version=1,
        ),
    }


def demo_filename(platform: str, key: str) -> str:
    if key == BASE_IMAGE_KEY:
        return f"nrf52840-base-image@{DEVICE_OS_VERSION}.hex"
    return f"{platform}-{key}@{DEVICE_OS_VERSION}.bin" if key in ("system-part1", "bootloader") else f"{platform}-{key}.bin"


def install_demo_firmware(cache: FirmwareCache, platform: str) -> dict[str, CacheEntry]:
    """Generate the demo set and its base image and add them to ``cache``; entries by demo key."""
    modules = build_demo_modules(platform)
    entries = {key: cache.add(data, name=demo_filename(platform, key)) for key, data in modules.items()}
    entries[BASE_IMAGE_KEY] = cache.add(demo_base_image(), name=demo_filename(platform, BASE_IMAGE_KEY))
    return entries
