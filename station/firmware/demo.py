"""Generate a format-valid Gen3 firmware set for demos and tests.

Real Device OS binaries cannot be downloaded where the station is developed or demonstrated, so
the demo builds its own: every file is a genuine Particle module (Particle's binary-version-reader
parses it field by field the same way ``station firmware inspect`` does), placed at the real
nRF52840 addresses, with realistic versions and dependencies. Bodies are deterministic filler, so
the same platform always gives the same bytes and profiles can pin files by SHA-256.

Versions. Device OS encodes ``X.Y.Z`` as module version ``X*1000 + Y*100 + Z`` (device-os
``modules/shared/system_module_version.mk`` has ``COMMON_MODULE_VERSION 5501`` on the 5.5 line,
``BOOTLOADER_VERSION``/``BOOTLOADER_DEPENDENCY 2300`` and ``SOFTDEVICE_DEPENDENCY 202`` for S140
7.0.1). 5900 for 5.9.0 follows that rule; the bootloader numbers are the 5.5-line values, kept
because a newer release's exact bootloader number could not be confirmed here:

=====================  =========  ===================================================
module                 version    depends on
=====================  =========  ===================================================
bootloader             2300       nothing
SoftDevice S140 7.0.1  202        bootloader >= 1100 (Particle ties SoftDevice modules
                       (= FWID    to a bootloader that understands DROP_MODULE_INFO)
                       0x00CA)
system-part1 5.9.0     5900       bootloader >= 2300, radio stack >= 202 (Argon: the two
                                  swapped, as device-os does; Tracker: NCP >= 7 instead
                                  of the radio stack)
user part (product)    6          system-part1 >= 5900
user part (factory)    6          system-part1 >= 5900
=====================  =========  ===================================================

The radio-stack module's version is the SoftDevice FWID because that is what Device OS reports
for it (``platform_radio_stack_fetch_module_info`` reads ``SD_FWID_GET``). Its body carries a real
SoftDevice info struct (magic 0x51B1E5DB at +0x2004, size at +0x2008, FWID at +0x200C) so that
:mod:`station.firmware.gen3` can recognise it in flash after the prefix was dropped.

User parts end exactly at 0xF4000 (the top of the 256 KB user slot) and their prefix says where
they start; they carry an app descriptor (:mod:`station.firmware.appdesc`).
"""

from __future__ import annotations

import struct

from station.domain import (
    GEN3_ADDR_BOOTLOADER,
    GEN3_ADDR_SOFTDEVICE,
    GEN3_ADDR_SYSTEM_PART1,
    GEN3_USER_PART_END,
    ModuleFlags,
    ModuleFunction,
    platform_by_name,
)
from station.errors import FirmwareError
from station.firmware.appdesc import AppDescriptor
from station.firmware.build import Dep, build_module, filler, vector_table
from station.firmware.cache import CacheEntry, FirmwareCache
from station.firmware.gen3 import SD_FWID_OFFSET, SD_INFO_OFFSET, SD_MAGIC, SD_MAGIC_OFFSET, SD_SIZE_OFFSET

DEVICE_OS_VERSION = "5.9.0"
SYSTEM_VERSION = 5900
BOOTLOADER_VERSION = 2300
BOOTLOADER_DEPENDENCY = 2300
SOFTDEVICE_FWID = 0x00CA  # S140 7.0.1
SOFTDEVICE_BOOTLOADER_DEPENDENCY = 1100
USER_PART_VERSION = 6
NCP_DEPENDENCY = 7
TRACKER_ID = 26
ARGON_ID = 12

DEMO_KEYS = ("bootloader", "softdevice", "system-part1", "user-product", "user-factory-test")
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
    sd_end = GEN3_ADDR_SOFTDEVICE + size  # SD_SIZE_GET is the end address (MBR included)
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
        return [boot, (ModuleFunction.NCP, 0, NCP_DEPENDENCY)]
    if platform_id == ARGON_ID:
        return [radio, boot]
    return [boot, radio]


def _user_part(platform: str, platform_id: int, desc: AppDescriptor, size: int, product_version: int) -> bytes:
    """A user part sized ``size`` that ends exactly at the top of the 256 KB slot."""
    body_size = size - 24 - 40 - 4
    body = _body(f"station-demo/{platform}/{desc.app}", body_size, desc.encode())
    return build_module(
        function=ModuleFunction.USER_PART,
        index=1,
        version=USER_PART_VERSION,
        platform_id=platform_id,
        start=GEN3_USER_PART_END - size,
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
            deps=[(ModuleFunction.BOOTLOADER, 0, SOFTDEVICE_BOOTLOADER_DEPENDENCY)],
            flags=ModuleFlags.DROP_MODULE_INFO,
        ),
        "system-part1": build_module(
            function=ModuleFunction.SYSTEM_PART,
            index=1,
            version=SYSTEM_VERSION,
            platform_id=pid,
            start=GEN3_ADDR_SYSTEM_PART1,
            body=_body(f"station-demo/{platform}/system-part1", sys_body),
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
    return f"{platform}-{key}@{DEVICE_OS_VERSION}.bin" if key in ("system-part1", "bootloader") else f"{platform}-{key}.bin"


def install_demo_firmware(cache: FirmwareCache, platform: str) -> dict[str, CacheEntry]:
    """Generate the demo set and add it to ``cache``; returns the entries by demo key."""
    modules = build_demo_modules(platform)
    return {key: cache.add(data, name=demo_filename(platform, key)) for key, data in modules.items()}
