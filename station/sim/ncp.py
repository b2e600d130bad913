"""The network co-processor of Argon and Tracker twins: an ESP32 with Particle's NCP firmware.

The ESP32 has its own flash, out of reach of the nRF52840's SWD port and of its DFU bootloader;
only Device OS can update it, over the control protocol's firmware update (or OTA), by streaming
the module body to the ESP32 (device-os ``hal/network/ncp/wifi/platform_ncp_update.cpp``). The
twin keeps what the ESP32 holds in ``<twin>/ncp.bin``: the NCP module file as it was installed.

What Device OS reports for it (``platform_ncp_fetch_module_info``): function NCP_FIRMWARE,
index 0, the version the ESP32 answers, all four validity checks passed, no size, and a "SHA"
made of the version repeated (Particle's own FIXME says so). Only platforms built with
``HAL_PLATFORM_NCP_UPDATABLE`` (``hal/src/argon`` and ``hal/src/tracker``) have this module.
"""

from __future__ import annotations

import os
import struct

from station.firmware.module import PREFIX_SIZE, crc32_be
from station.sim.device import Twin

NCP_FILE = "ncp.bin"
#: ``HAL_PLATFORM_NCP_UPDATABLE`` platforms (device-os v5.9.0 ``hal/src/*/hal_platform_config.h``)
NCP_PLATFORMS = frozenset({"argon", "tracker"})
#: ``PLATFORM_NCP_ESP32`` = manufacturer Espressif (1) << 5 | 1 (``hal/shared/platform_ncp.h``),
#: the value an NCP module carries in its prefix's mcu_target byte
NCP_ESP32 = 0x21
#: ``module_ncp_mono`` bounds (``hal/src/nRF52840/ota_module_bounds.c``): the module's end address
NCP_MAX_SIZE = 1500 * 1024
#: ESP32 update over the UART at 921600 baud (8N1): ~92 KB/s, plus a 4 KB sector erase each
ESP32_BYTES_PER_S = 921600 / 10
ESP32_SECTOR_ERASE_S = 45e-3


def has_ncp(twin: Twin) -> bool:
    """The platform carries an updatable NCP (whether or not firmware is on it)."""
    return twin.platform.name in NCP_PLATFORMS


def ncp_image(twin: Twin) -> bytes | None:
    """The NCP module the ESP32 holds, or ``None`` (no NCP, or nothing installed)."""
    if not has_ncp(twin):
        return None
    try:
        return (twin.path / NCP_FILE).read_bytes()
    except FileNotFoundError:
        return None


def ncp_version(twin: Twin) -> int | None:
    """The module version the ESP32 reports (``getFirmwareModuleVersion``)."""
    data = ncp_image(twin)
    if data is None or len(data) < PREFIX_SIZE:
        return None
    return int(struct.unpack_from("<H", data, 10)[0])


def check_ncp_module(twin: Twin, data: bytes) -> str | None:
    """Why Device OS would refuse ``data`` as this device's NCP firmware, or ``None``.

    Mirrors ``validateModules`` in ``hal/src/nRF52840/ota_flash_hal.cpp``: the NCP identifier in
    the module's mcu_target must be one of the platform's updatable NCPs.
    """
    if not has_ncp(twin):
        return "NCP module is not updatable on this platform"
    if len(data) < PREFIX_SIZE + 4 or crc32_be(data[:-4]) != data[-4:]:
        return "Module integrity check failed"
    if data[8] != NCP_ESP32:
        return f"NCP module is not for this platform; module NCP: 0x{data[8]:02x}"
    return None


def install_ncp(twin: Twin, data: bytes) -> float:
    """The ESP32 receives a new firmware (what ``ncpClient->updateFirmware`` does); returns its device time."""
    if check_ncp_module(twin, data) is not None:
        raise ValueError(check_ncp_module(twin, data))
    old = ncp_version(twin)
    tmp = twin.path / (NCP_FILE + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, twin.path / NCP_FILE)
    sectors = -(-len(data) // 4096)
    version = struct.unpack_from("<H", data, 10)[0]
    twin.events.record("ncp_update", from_version=old, to_version=int(version))
    return len(data) / ESP32_BYTES_PER_S + sectors * ESP32_SECTOR_ERASE_S


def ship_ncp(twin: Twin, data: bytes | None = None) -> None:
    """An Argon/Tracker as it leaves the module maker: its ESP32 already runs NCP firmware.

    ``data`` defaults to the demo NCP module (:mod:`station.firmware.demo_updates`); other
    platforms have no NCP and are left alone.
    """
    if not has_ncp(twin):
        return
    if data is None:
        from station.firmware.demo_updates import build_ncp_module

        data = build_ncp_module(twin.platform.name)
    (twin.path / NCP_FILE).write_bytes(data)


def ncp_sha(version: int) -> bytes:
    """The stand-in SHA Device OS reports for the NCP module: the version, as u16 words."""
    return struct.pack("<16H", *([version & 0xFFFF] * 16))

