"""Domain vocabulary shared by every layer: platforms, device IDs, module functions, transports.

Facts come from ``shared/research/particle.md`` (device-os ``build/platform-id.mk``,
``dynalib/inc/module_info.h``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from station.errors import InvalidDeviceId

PARTICLE_VID = 0x2B04
PID_NORMAL_BASE = 0xC000
PID_DFU_BASE = 0xD000

#: Every Gen3 (nRF52840) device ID starts with this prefix (0x68ce0fe0 stored little-endian).
GEN3_ID_PREFIX = "e00fce68"
GEN3_ID_WORD0 = 0x68CE0FE0

_DEVICE_ID_RE = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True)
class Platform:
    """A Particle hardware platform the station can provision."""

    name: str
    id: int
    mcu: str  # pyocd target name
    cellular: bool
    ext_flash_sectors: int  # 4 KB sectors of external QSPI flash (DFU alt 2)

    @property
    def pid_normal(self) -> int:
        return PID_NORMAL_BASE | self.id

    @property
    def pid_dfu(self) -> int:
        return PID_DFU_BASE | self.id


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("argon", 12, "nrf52840", False, 1024),
        Platform("boron", 13, "nrf52840", True, 1024),
        Platform("esomx", 15, "nrf52840", True, 2048),
        Platform("bsom", 23, "nrf52840", True, 1024),
        Platform("b5som", 25, "nrf52840", True, 2048),
        Platform("tracker", 26, "nrf52840", True, 2048),
    )
}
PLATFORMS_BY_ID: dict[int, Platform] = {p.id: p for p in PLATFORMS.values()}


def platform_by_name(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r} (known: {', '.join(sorted(PLATFORMS))})") from None


def platform_by_id(pid: int) -> Platform | None:
    return PLATFORMS_BY_ID.get(pid)


def platform_from_usb_pid(pid: int) -> tuple[Platform, str] | None:
    """Map a USB product ID to (platform, mode) where mode is ``"normal"`` or ``"dfu"``."""
    base = pid & 0xF000
    plat = PLATFORMS_BY_ID.get(pid & 0x0FFF)
    if plat is None:
        return None
    if base == PID_NORMAL_BASE:
        return plat, "normal"
    if base == PID_DFU_BASE:
        return plat, "dfu"
    return None


def is_device_id(text: str) -> bool:
    return bool(_DEVICE_ID_RE.match(text))


def normalize_device_id(text: str) -> str:
    """Return the canonical (lowercase, 24 hex) form or raise :class:`~station.errors.InvalidDeviceId`."""
    t = text.strip().lower()
    if not _DEVICE_ID_RE.match(t):
        raise InvalidDeviceId(f"not a device ID (24 hex characters expected): {text!r}", text=text)
    return t


def gen3_device_id(deviceid0: int, deviceid1: int) -> str:
    """Device ID of an nRF52840 from FICR.DEVICEID[0..1] (device-os ``deviceid_hal.cpp``)."""
    words = (GEN3_ID_WORD0, deviceid0 & 0xFFFFFFFF, deviceid1 & 0xFFFFFFFF)
    return b"".join(w.to_bytes(4, "little") for w in words).hex()


def gen3_ficr_words(device_id: str) -> tuple[int, int]:
    """Inverse of :func:`gen3_device_id`: the FICR.DEVICEID words a Gen3 device ID came from."""
    did = normalize_device_id(device_id)
    if not did.startswith(GEN3_ID_PREFIX):
        raise InvalidDeviceId(f"not a Gen3 device ID (must start {GEN3_ID_PREFIX}): {device_id}", text=device_id)
    raw = bytes.fromhex(did)
    return int.from_bytes(raw[4:8], "little"), int.from_bytes(raw[8:12], "little")


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit for a digit string (IMEI and ICCID end with one)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_ok(digits: str) -> bool:
    """Whether a digit string's last digit is its Luhn check digit."""
    return len(digits) > 1 and digits.isdigit() and luhn_check_digit(digits[:-1]) == digits[-1]


class ModuleFunction(enum.IntEnum):
    NONE = 0
    RESOURCE = 1
    BOOTLOADER = 2
    MONOLITHIC = 3
    SYSTEM_PART = 4
    USER_PART = 5
    SETTINGS = 6
    NCP = 7
    RADIO_STACK = 8
    ASSET = 9


class ModuleFlags(enum.IntFlag):
    NONE = 0
    DROP_MODULE_INFO = 0x01
    COMPRESSED = 0x02
    COMBINED = 0x04
    ENCRYPTED = 0x08
    PREFIX_EXTENSIONS = 0x10


class Transport(enum.StrEnum):
    SWD = "swd"
    USB = "usb"


class Outcome(enum.StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    #: the station could not finish, which says nothing about the device: the registry became
    #: unavailable, the slot's debug probe was lost mid-run, or a station bug (a unit that left
    #: mid-run is FAILED). A slot's result only; its attempt is stored as failed with the reason
    #: (e.g. "registry unavailable …")
    ERROR = "error"


#: Why an attempt ended as it did when something left mid-run (``attempts.fault``, the ``fault`` of
#: ``attempt_finished`` and of a slot result). ``device-gone`` ends it ``failed``: the unit was
#: unplugged or taken out of its fixture while its probe stayed, so this unit did not make it.
FAULT_DEVICE_GONE = "device-gone"
FAULT_PROBE_GONE = "probe-gone"  # the slot's debug probe went (its cable, its probe server)
FAULT_REGISTRY = "registry-unavailable"
FAULT_INTERNAL = "internal"  # a bug in the station
#: the station process (or a slot's worker process) stopped mid-attempt: killed, crashed, power cut;
#: written when its attempt is closed as abandoned, by the next start or the slot's parent
FAULT_STATION_STOPPED = "station-stopped"
#: the faults that mean the station, not the unit, could not go on: such an attempt is stored
#: ``failed`` but judged nothing, so lot figures count it as a station error, not a failed unit
#: (issue 12); the slot's result says ``error``
STATION_FAULTS = (FAULT_PROBE_GONE, FAULT_REGISTRY, FAULT_INTERNAL, FAULT_STATION_STOPPED)

#: How an attempt's reason begins when the station lost a device it could not make safe first: the
#: device holds firmware that would go online at its next power-up (issue 10 item 1). The registry,
#: ``device show``, the lot report and the CLI's result line all show it by this phrase.
UNSAFE_TO_POWER = "unsafe to power: re-flash before it leaves the fixture"


# nRF52840 memory map (particle.md §3)
NRF_FLASH_SIZE = 0x100000
NRF_PAGE_SIZE = 0x1000
NRF_FICR = 0x10000000
NRF_UICR = 0x10001000
NRF_UICR_SIZE = 0x1000
NRF_UICR_APPROTECT = 0x10001208
NRF_FICR_DEVICEID0 = 0x10000060
NRF_FICR_DEVICEID1 = 0x10000064
NRF_FICR_PART = 0x10000100
NRF_FICR_VARIANT = 0x10000104

#: UICR.APPROTECT.PALL values (nRF52840 PS): Disabled (erased) and HwDisabled (build code F and later)
APPROTECT_PALL_DISABLED = 0xFF
APPROTECT_PALL_HW_DISABLED = 0x5A
#: what the station writes to UICR.APPROTECT: only the PALL byte, reserved bits left erased
UICR_APPROTECT_HW_DISABLED = 0xFFFFFF5A
UICR_APPROTECT_ENABLED = 0xFFFFFF00


def nrf_variant(word: int) -> str:
    """FICR INFO.VARIANT as the four ASCII characters Nordic prints ("AAD0", "AAF0")."""
    return word.to_bytes(4, "big").decode("ascii", "replace")


def hardened_approtect(variant: str) -> bool:
    """Build code F0 and later of the nRF52840 lock the debug port at every reset (pyOCD's
    ``target_nRF52.py`` HARDENED_APPROTECT_REVISIONS: 0x52840 -> "F0"; nRF52840 PS rev 3)."""
    return variant[2:4].upper() >= "F0"


GEN3_ADDR_SOFTDEVICE = 0x1000
GEN3_ADDR_SYSTEM_PART1 = 0x28000
GEN3_ADDR_USER_PART = 0xB4000
GEN3_ADDR_LEGACY_USER_PART = 0xD4000
GEN3_ADDR_BOOTLOADER = 0xF4000
GEN3_USER_PART_END = 0xF4000
#: the MBR page: Nordic's master boot record, carried by no Particle module (a blank chip's base image)
GEN3_MBR = (0x0, 0x1000)


def module_region(mcu: str, function: int, index: int) -> tuple[int, int] | None:
    """Where in internal flash a module of ``function``/``index`` may be written: [start, end).

    The nRF52840 map (particle.md §3): SoftDevice 0x1000–0x27000, system-part1 0x28000–0xB4000
    (older releases start it at 0x30000: inside the same window), user part 0xB4000–0xF4000 (the
    legacy 128 KB one at 0xD4000 inside it), bootloader 0xF4000 to the end of flash. ``None``
    for a module that has no place in internal flash on that MCU (NCP firmware, a second system
    part on Gen3). Used before anything is flashed: a user part built for 0x0 would overwrite
    the MBR, one past the end of flash would fail half-way.
    """
    if mcu != "nrf52840":
        return None
    regions = {
        (int(ModuleFunction.BOOTLOADER), 0): (GEN3_ADDR_BOOTLOADER, NRF_FLASH_SIZE),
        (int(ModuleFunction.RADIO_STACK), 0): (GEN3_ADDR_SOFTDEVICE, 0x27000),
        (int(ModuleFunction.SYSTEM_PART), 1): (GEN3_ADDR_SYSTEM_PART1, GEN3_ADDR_USER_PART),
    }
    if function == int(ModuleFunction.USER_PART):
        return (GEN3_ADDR_USER_PART, GEN3_USER_PART_END)
    return regions.get((function, index))


# --------------------------------------------------------------------------- firmware values
# Value types that firmware parsing produces and transports consume. They live here, below both,
# so that ``station.firmware`` never has to import the transport layer to describe its results.


@dataclass(frozen=True)
class FlashImage:
    """Bytes to place at an address: one module (prefix already dropped if the module says so)."""

    address: int
    data: bytes
    label: str = ""  # e.g. "system-part1 v6200" for messages and records

    @property
    def end(self) -> int:
        return self.address + len(self.data)


@dataclass(frozen=True)
class ModuleStatus:
    """One module as the device reports it (GET_MODULE_INFO / listening-mode ``s``).

    Reported by transports (USB control requests, listening mode) and also derived from flash by
    the firmware layer (:meth:`station.firmware.gen3.FlashModule.to_status`), so neither owns it.

    ``failed_checks`` are Device OS's validity bits that were checked and did not pass
    (0x02 integrity, 0x04 dependencies, 0x08 range, 0x10 platform); ``sha256`` is the module's
    own SHA-256 from its suffix, as the device reports it (hex; empty when not reported).
    """

    function: int
    index: int
    version: int
    valid: bool = True
    failed_checks: int = 0
    size: int = 0
    max_size: int = 0
    sha256: str = ""
    dependencies: tuple[tuple[int, int, int], ...] = ()


def rfc3339(t: datetime) -> str:
    """``2026-12-01T19:34:49Z``: how every JSON output and export writes a time (RFC 3339, UTC, seconds).

    The registry stores naive UTC, so a naive time is UTC; an aware one is converted.
    """
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t.isoformat(timespec="seconds") + "Z"
