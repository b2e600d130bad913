"""Firmware updates a twin's Device OS receives over the control protocol, staged as Device OS stages them.

Device OS (v5.9.0 ``system/src/control/storage.cpp``, ``system/src/firmware_update.cpp``,
``hal/src/nRF52840/ota_flash_hal.cpp``):

* START_FIRMWARE_UPDATE erases ``size`` bytes of the OTA region in external flash
  (``EXTERNAL_FLASH_OTA_ADDRESS``, 1500 KB; 0x24C000 on 4 MB parts, 0x649000 on 8 MB parts) and
  answers a chunk size of 1024;
* FIRMWARE_UPDATE_DATA writes each chunk there, in order;
* FINISH_FIRMWARE_UPDATE validates the module in the OTA region (integrity, range, platform,
  dependencies with the user part's optional) and answers; once the host has the answer,
  ``HAL_FLASH_End`` applies it — an NCP module is streamed to the ESP32 right away, anything else
  (bootloader, system part, user part, radio stack) goes into a pending module slot in the DCT —
  and the device resets (``RESET_REASON_UPDATE``). The bootloader copies pending slots into
  internal flash at the next boot, before anything runs.

The pending slots are kept in ``<twin>/ota.json``; the staged bytes really are in the twin's
external flash, where DFU alt 2 can read them as on a device. Deviations, all refused rather
than faked: compressed (miniz) and combined modules answer ``OTA_UNSUPPORTED_MODULE`` (the twin
cannot inflate them); resumable transfers are not modelled.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from typing import Any

from station.domain import ModuleFlags, ModuleFunction
from station.protocol.usb_control import SystemError
from station.sim.device import Twin
from station.sim.ncp import NCP_MAX_SIZE, check_ncp_module, has_ncp, install_ncp

PENDING_FILE = "ota.json"
OTA_LENGTH = 1500 * 1024
#: ``descr.chunk_size = 1024`` in startFirmwareUpdateRequest
CHUNK_SIZE = 1024
#: QSPI NOR: 4 KB sector erase, 256-byte page program (MX25L-class typical figures)
EXT_SECTOR = 0x1000
EXT_SECTOR_ERASE_S = 45e-3
EXT_PAGE_PROGRAM_S = 0.7e-3
NVMC_PAGE = 0x1000


def ota_address(twin: Twin) -> int:
    """``EXTERNAL_FLASH_OTA_ADDRESS`` (platform/MCU/nRF52840/inc/flash_mal.h) for this part's flash size."""
    if twin.platform.ext_flash_sectors * EXT_SECTOR >= 0x800000:  # Tracker, B5-SoM, E-SoM-X
        return 0x400000 + 2048 * 1024 + 256 * 1024 + 292 * 1024
    return 0x200000 + 256 * 1024 + 48 * 1024


@dataclass
class Update:
    """``g_update``: the transfer in progress (RAM: a reset forgets it)."""

    size: int
    received: int = 0


class FirmwareUpdate:
    """The control requests 250–253 of one running Device OS. Methods return a system_error_t and a cost in s."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.update: Update | None = None

    # ------------------------------------------------------------------ requests
    def start(self, size: int, file_format: int) -> tuple[int, float]:
        self.cancel()
        if file_format != 0:  # FileFormat_BIN
            return SystemError.NOT_SUPPORTED, 0.0
        if size == 0 or size > OTA_LENGTH:
            return SystemError.OTA_INVALID_SIZE, 0.0
        base = ota_address(self.twin)
        sectors = -(-size // EXT_SECTOR)
        with self.twin.lock:
            self.twin.ext_flash[base : base + sectors * EXT_SECTOR] = b"\xff" * (sectors * EXT_SECTOR)
        self.update = Update(size)
        return SystemError.NONE, sectors * EXT_SECTOR_ERASE_S

    def data(self, chunk: bytes) -> tuple[int, float]:
        if self.update is None:
            return SystemError.INVALID_STATE, 0.0
        left = self.update.size - self.update.received
        if not chunk or len(chunk) > left:
            self.cancel()
            return SystemError.OUT_OF_RANGE, 0.0
        address = ota_address(self.twin) + self.update.received
        with self.twin.lock:
            old = bytes(self.twin.ext_flash[address : address + len(chunk)])
            self.twin.ext_flash[address : address + len(chunk)] = bytes(a & b for a, b in zip(old, chunk, strict=True))
        self.update.received += len(chunk)
        return SystemError.NONE, -(-len(chunk) // 256) * EXT_PAGE_PROGRAM_S

    def finish(self, validate_only: bool) -> int:
        """Validate; ``NONE`` means the host may be told OK and :meth:`apply` runs after it was."""
        if self.update is None or self.update.received < self.update.size:
            self.cancel()
            return SystemError.INVALID_STATE
        result = self.validate()
        if result != SystemError.NONE or validate_only:
            self.cancel()
        return result

    def cancel(self) -> None:
        self.update = None

    # ------------------------------------------------------------------ the module in the OTA region
    def staged(self) -> bytes:
        assert self.update is not None
        base = ota_address(self.twin)
        return bytes(self.twin.ext_flash[base : base + self.update.received])

    def validate(self) -> int:
        """``HAL_FLASH_OTA_Validate(userDepsOptional=true, INTEGRITY | DEPENDENCIES_FULL)`` + ``validateModules``."""
        from station.errors import FirmwareError
        from station.firmware.module import parse_module

        data = self.staged()
        try:
            info = parse_module(data)
        except FirmwareError:
            return SystemError.OTA_MODULE_NOT_FOUND
        if info.end - info.start + 4 > len(data):
            return SystemError.OTA_MODULE_NOT_FOUND
        data = data[: info.end - info.start + 4]
        bounds = _expected_bounds(self.twin, int(info.function), info.index)
        if bounds is None or not bounds[0] <= info.end <= bounds[1]:
            return SystemError.OTA_MODULE_NOT_FOUND  # fetch_module gives up: "Unable to fetch module"
        if not info.crc_ok:
            return SystemError.OTA_INTEGRITY_CHECK_FAILED
        if not self._dependencies_ok(info):
            return SystemError.OTA_DEPENDENCY_CHECK_FAILED
        if info.platform_id != self.twin.platform.id:
            return SystemError.OTA_INVALID_PLATFORM
        if info.flags & (ModuleFlags.COMPRESSED | ModuleFlags.COMBINED):
            return SystemError.OTA_UNSUPPORTED_MODULE
        if info.prefix_offset > 0 and info.flags & ModuleFlags.DROP_MODULE_INFO:
            return SystemError.OTA_INVALID_FORMAT
        if info.function == ModuleFunction.NCP and check_ncp_module(self.twin, data) is not None:
            return SystemError.OTA_INVALID_PLATFORM
        return SystemError.NONE

    def _dependencies_ok(self, info: Any) -> bool:
        from station.sim.module_info import device_modules

        present = {(m.function, m.index): m.version for m in device_modules(self.twin)}
        user = info.function == ModuleFunction.USER_PART
        for n, dep in enumerate(info.deps):
            if dep.function == ModuleFunction.NONE or (n == 0 and user):
                continue
            if n == 1 and dep.function == ModuleFunction.BOOTLOADER:
                continue  # userDepsOptional also skips a second dependency on the bootloader
            if present.get((int(dep.function), dep.index), -1) < dep.version:
                return False
        if info.function == ModuleFunction.SYSTEM_PART:
            # DEPENDENCIES_FULL: what depends on the system part being replaced must still be met
            for m in device_modules(self.twin):
                if (m.function, m.index) == (int(info.function), info.index):
                    continue
                for f, i, v in m.deps:
                    if (f, i) == (int(info.function), info.index) and info.version < v:
                        return False
        return True

    # ------------------------------------------------------------------ HAL_FLASH_End
    def apply(self) -> float:
        """Apply the validated update (after the host got its reply); the caller then resets the device."""
        from station.firmware.module import parse_module

        if self.update is None:
            return 0.0
        data = self.staged()
        info = parse_module(data)
        data = data[: info.end - info.start + 4]
        self.update = None
        if info.function == ModuleFunction.NCP:
            return install_ncp(self.twin, data)
        drop = bool(info.flags & ModuleFlags.DROP_MODULE_INFO)
        slots = pending_slots(self.twin)
        slots.append(
            {"src": ota_address(self.twin), "dest": info.start, "size": len(data), "function": int(info.function),
             "version": info.version, "drop_module_info": drop}
        )  # fmt: skip
        _write_slots(self.twin, slots)
        self.twin.events.record("ota_staged", function=int(info.function), version=info.version, size=len(data))
        return 0.0


def _expected_bounds(twin: Twin, function: int, index: int) -> tuple[int, int] | None:
    """(start, end) of the module slot ``find_module_bounds`` gives for this module (end is inclusive)."""
    from station.sim.module_info import LAYOUT_62, device_modules

    system = next((m for m in device_modules(twin) if m.function == int(ModuleFunction.SYSTEM_PART)), None)
    layout_start = system.start if system is not None and system.start is not None else LAYOUT_62.system_part1_start
    table = {
        (int(ModuleFunction.BOOTLOADER), 0): (0xF4000, 0x100000),
        (int(ModuleFunction.SYSTEM_PART), 1): (layout_start, 0xB4000),
        (int(ModuleFunction.USER_PART), 1): (0xD4000, 0xF4000),
        (int(ModuleFunction.USER_PART), 2): (0xB4000, 0xF4000),
        (int(ModuleFunction.RADIO_STACK), 0): (0x1000, 0x27000 if layout_start == 0x28000 else 0x30000),
    }
    if has_ncp(twin):
        table[(int(ModuleFunction.NCP), 0)] = (0, NCP_MAX_SIZE)
    return table.get((function, index))


def pending_slots(twin: Twin) -> list[dict[str, Any]]:
    try:
        return list(json.loads((twin.path / PENDING_FILE).read_text()))
    except (FileNotFoundError, ValueError):
        return []


def _write_slots(twin: Twin, slots: list[dict[str, Any]]) -> None:
    tmp = twin.path / (PENDING_FILE + ".tmp")
    tmp.write_text(json.dumps(slots))
    os.replace(tmp, twin.path / PENDING_FILE)


def apply_pending(twin: Twin) -> None:
    """What the bootloader does first at every boot: copy pending module slots into internal flash.

    A slot whose data fails its CRC is dropped without touching internal flash (the bootloader's
    ``MODULE_VERIFY_CRC``); either way the slot is cleared, so it is applied at most once.
    """
    slots = pending_slots(twin)
    if not slots:
        return
    with twin.lock:
        for slot in slots:
            src, dest, size = int(slot["src"]), int(slot["dest"]), int(slot["size"])
            data = bytes(twin.ext_flash[src : src + size])
            if zlib.crc32(data[:-4]).to_bytes(4, "big") != data[-4:]:
                twin.events.record("ota_rejected", function=slot.get("function"), reason="CRC mismatch")
                continue
            body = data[24:] if slot.get("drop_module_info") else data
            first = dest - dest % NVMC_PAGE
            last = dest + len(body)
            pages = -(-(last - first) // NVMC_PAGE)
            twin.flash[first : first + pages * NVMC_PAGE] = b"\xff" * (pages * NVMC_PAGE)
            twin.flash[dest : dest + len(body)] = body
            twin.clock.nvmc_page_erase(pages)
            twin.clock.nvmc_words(len(body) // 4)
            twin.events.record("ota_applied", function=slot.get("function"), version=slot.get("version"), address=dest)
        _write_slots(twin, [])
