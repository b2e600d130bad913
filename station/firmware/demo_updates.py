"""Demo modules for what a USB bench updates over the control protocol: NCP firmware and other bootloaders.

Like :mod:`station.firmware.demo`, these are genuine Particle modules with deterministic filler
bodies (Particle's binary-version-reader parses them), made because real binaries cannot be
downloaded here:

* the ESP32 **NCP firmware** of Argon and Tracker: function NCP (7), index 0, prefix at offset 0,
  start address 0, the 36-byte suffix, and ``PLATFORM_NCP_ESP32`` (0x21) in the prefix's
  mcu_target byte, which Device OS checks before it streams the module to the ESP32
  (device-os ``hal/src/nRF52840/ota_flash_hal.cpp`` ``validateModules``). Particle's Argon NCP
  releases are numbered 0.0.N with module version N (argon-ncp-firmware 0.0.7 → 7);
* a **bootloader** of any version, laid out as the demo's (vector table, prefix at 0x200,
  0xF4000), so a bench can be shown a device whose bootloader is older than the profile's.
"""

from __future__ import annotations

from station.domain import GEN3_ADDR_BOOTLOADER, ModuleFunction, platform_by_name
from station.errors import FirmwareError
from station.firmware.build import build_module, filler, vector_table

NCP_ESP32 = 0x21
NCP_PLATFORMS = ("argon", "tracker")
DEMO_NCP_VERSION = 7
_NCP_SIZE = 96 * 1024
_BOOTLOADER_SIZE = 44 * 1024
_STACK_TOP = 0x20040000


def build_ncp_module(platform: str, version: int = DEMO_NCP_VERSION, *, size: int = _NCP_SIZE) -> bytes:
    """An ESP32 NCP firmware module for ``platform`` (argon or tracker)."""
    if platform not in NCP_PLATFORMS:
        raise FirmwareError(f"{platform} has no updatable NCP (only {', '.join(NCP_PLATFORMS)} do)")
    plat = platform_by_name(platform)
    body = filler(f"station-demo/{platform}/ncp/{version}", size - 24 - 36 - 4)
    return build_module(
        function=ModuleFunction.NCP, index=0, version=version, platform_id=plat.id, start=0, body=body,
        mcu_target=NCP_ESP32,
    )  # fmt: skip


def build_bootloader_module(platform: str, version: int) -> bytes:
    """A Gen3 bootloader module of ``version`` for ``platform``."""
    plat = platform_by_name(platform)
    body = filler(f"station-demo/{platform}/bootloader/{version}", _BOOTLOADER_SIZE - 0x200 - 24 - 40 - 4)
    return build_module(
        function=ModuleFunction.BOOTLOADER, index=0, version=version, platform_id=plat.id,
        start=GEN3_ADDR_BOOTLOADER, body=body, prefix_offset=0x200,
        head=vector_table(_STACK_TOP, GEN3_ADDR_BOOTLOADER), product_id=plat.id, product_version=0,
    )  # fmt: skip
