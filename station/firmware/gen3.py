"""What firmware is in a Gen3 (nRF52840) device's internal flash, read through any memory reader.

Both the twin's boot model and the station's identity/verification checks ask this question,
so it is answered once, from flash contents only, the way Device OS answers it:

* **bootloader** at 0xF4000, prefix after the 0x200-byte vector table;
* **radio stack** (SoftDevice) at 0x1000. Its module was flashed with DROP_MODULE_INFO, so there
  is no prefix in flash. Device OS recognises it from the SoftDevice's own info struct and
  reports the SoftDevice FWID as the module version (``platform_radio_stack_fetch_module_info``:
  ``module_version = SD_FWID_GET(MBR_SIZE)``). We do the same: magic 0x51B1E5DB at 0x3004, the
  SoftDevice end address at 0x3008, FWID (u16) at 0x300C. With no prefix there is no CRC to
  check; Device OS assumes it valid, we additionally require a sane end address;
* **system-part1** at 0x28000 (or 0x30000 on old layouts), prefix at +0x200;
* **user part** with its prefix at the start of its slot: 0xD4000 (the 128 KB compat slot, which
  takes precedence) or 0xB4000 (the 256 KB slot since Device OS 3.1), as ``user_hal.cpp`` does.

A module is ``valid`` when its CRC matches, it is built for this platform and it lies inside its
slot; ``reason`` says why not. Erased or unrecognisable slots are simply absent from the result.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from station.domain import (
    GEN3_ADDR_BOOTLOADER,
    GEN3_ADDR_LEGACY_USER_PART,
    GEN3_ADDR_SOFTDEVICE,
    GEN3_ADDR_SYSTEM_PART1,
    GEN3_ADDR_USER_PART,
    GEN3_USER_PART_END,
    NRF_FLASH_SIZE,
    ModuleFunction,
    ModuleStatus,
)
from station.firmware.module import PREFIX_SIZE, ModuleDependency, function_name, platform_label

ReadFn = Callable[[int, int], bytes]
#: CRC-32 of (address, size) computed without reading the bytes (on the target, station.firmware.crc)
CrcFn = Callable[[int, int], int]

MBR_SIZE = 0x1000
SD_INFO_OFFSET = 0x2000  # relative to the SoftDevice base (0x1000)
SD_MAGIC_OFFSET = 0x2004
SD_SIZE_OFFSET = 0x2008
SD_FWID_OFFSET = 0x200C
SD_MAGIC = 0x51B1E5DB
SD_SLOT_END = 0x28000  # system-part1 starts here on current layouts
SYSTEM_PART1_LEGACY = 0x30000
VECTOR_TABLE_SIZE = 0x200
_PREFIX = struct.Struct("<IIBBHHBBBBHBBH")
_CHUNK = 0x4000
#: with on-target CRCs only headers and CRC words are read: small chunks suffice
_SMALL_CHUNK = 0x200


@dataclass(frozen=True)
class FlashModule:
    """One module found in flash, with the facts Device OS would report for it."""

    function: ModuleFunction
    index: int
    version: int
    platform_id: int
    start: int
    end: int
    crc_ok: bool
    deps: tuple[ModuleDependency, ...]
    valid: bool
    reason: str | None = None

    @property
    def name(self) -> str:
        return function_name(self.function, self.index)

    def to_status(self) -> ModuleStatus:
        """The same facts in the shape a device reports them over USB (GET_MODULE_INFO)."""
        return ModuleStatus(int(self.function), self.index, self.version, self.valid)

    def describe(self) -> str:
        state = "valid" if self.valid else f"INVALID ({self.reason})"
        return f"{self.name} v{self.version} at 0x{self.start:05X}-0x{self.end:05X}: {state}"


def _crc_ok(read: ReadFn, start: int, end: int, crc_of: CrcFn | None = None) -> bool:
    """CRC-32 over [start, end) against the big-endian word stored at ``end``.

    With ``crc_of`` the CRC is computed where the bytes are (on the target); otherwise they are
    read in chunks and checksummed here.
    """
    if crc_of is not None:
        crc = crc_of(start, end - start)
    else:
        crc = 0
        addr = start
        while addr < end:
            n = min(_CHUNK, end - addr)
            crc = zlib.crc32(read(addr, n), crc)
            addr += n
    return read(end, 4) == struct.pack(">I", crc & 0xFFFFFFFF)


def _module_at(
    read: ReadFn,
    prefix_addr: int,
    platform_id: int,
    slot: tuple[int, int],
    *,
    prefix_bytes: bytes | None = None,
    crc_of: CrcFn | None = None,
) -> FlashModule | None:
    """Interpret the 24 bytes at ``prefix_addr`` as a prefix; None if they cannot be one."""
    raw = prefix_bytes if prefix_bytes is not None else read(prefix_addr, PREFIX_SIZE)
    start, end, _r, _fl, version, plat, func, index, d1f, d1i, d1v, d2f, d2i, d2v = _PREFIX.unpack(raw)
    try:
        function = ModuleFunction(func)
        deps = (ModuleDependency(ModuleFunction(d1f), d1i, d1v), ModuleDependency(ModuleFunction(d2f), d2i, d2v))
    except ValueError:
        return None
    if function == ModuleFunction.NONE or end <= start or end + 4 > NRF_FLASH_SIZE:
        return None
    lo, hi = slot
    reason: str | None = None
    crc_ok = False
    if not (lo <= start and end + 4 <= hi):
        reason = f"0x{start:05X}-0x{end + 4:05X} is outside its slot 0x{lo:05X}-0x{hi:05X}"
    else:
        crc_ok = _crc_ok(read, start, end, crc_of)
        if not crc_ok:
            reason = "CRC mismatch"
        elif plat != platform_id:
            reason = f"built for {platform_label(plat)}, device is {platform_label(platform_id)}"
    return FlashModule(function, index, version, plat, start, end, crc_ok, deps, reason is None, reason)


def _blank(raw: bytes) -> bool:
    return raw in (b"\xff" * len(raw), bytes(len(raw)))


def _fixed_slot(
    read: ReadFn, base: int, platform_id: int, slot: tuple[int, int], crc_of: CrcFn | None = None
) -> FlashModule | None:
    """A module whose prefix follows a vector table at ``base`` and must start at ``base``."""
    raw = read(base + VECTOR_TABLE_SIZE, PREFIX_SIZE)
    if _blank(raw):
        return None
    mod = _module_at(read, base + VECTOR_TABLE_SIZE, platform_id, slot, prefix_bytes=raw, crc_of=crc_of)
    if mod is None or mod.start != base:
        return None
    return mod


def _radio_stack(read: ReadFn, platform_id: int) -> FlashModule | None:
    base = MBR_SIZE
    info = read(base + SD_MAGIC_OFFSET, 12)
    magic, sd_end, fwid = struct.unpack_from("<IIH", info)
    if magic != SD_MAGIC:
        return None
    ok = GEN3_ADDR_SOFTDEVICE + SD_FWID_OFFSET < sd_end <= SD_SLOT_END and fwid not in (0, 0xFFFF)
    reason = None if ok else f"SoftDevice info struct is inconsistent (end 0x{sd_end:X}, FWID 0x{fwid:04X})"
    none = ModuleDependency(ModuleFunction.NONE, 0, 0)
    return FlashModule(
        ModuleFunction.RADIO_STACK, 0, fwid, platform_id, base, sd_end, ok, (none, none), ok, reason
    )


class _ChunkReader:
    """Reads flash in aligned chunks and remembers them, so each byte crosses the probe once.

    Over SWD every read costs a round trip; the user-part scan and the CRC checks touch the same
    bytes, and this keeps a full read-back of the demo set to roughly the size of its modules.
    """

    def __init__(self, read: ReadFn, chunk: int = _CHUNK) -> None:
        self._read = read
        self._size = chunk
        self._chunks: dict[int, bytes] = {}

    def chunk(self, base: int) -> bytes:
        data = self._chunks.get(base)
        if data is None:
            data = self._read(base, min(self._size, NRF_FLASH_SIZE - base))
            self._chunks[base] = data
        return data

    def __call__(self, address: int, size: int) -> bytes:
        out = bytearray()
        addr = address
        while addr < address + size:
            base = addr - addr % self._size
            data = self.chunk(base)
            take = min(address + size, base + len(data)) - addr
            out += data[addr - base : addr - base + take]
            addr += take
        return bytes(out)


def _user_part(read: _ChunkReader, platform_id: int, crc_of: CrcFn | None = None) -> FlashModule | None:
    """The user part Device OS would run, found where Device OS looks for it.

    ``hal_user_module_get_descriptor`` (device-os ``hal/src/nRF52840/user_hal.cpp``) checks the
    128 KB compat slot first (prefix at 0xD4000, it takes precedence), then the 256 KB slot
    (prefix at 0xB4000); a module counts only if its prefix names that very address
    (``FLASH_isUserModuleInfoValid``). A user part linked anywhere else is never run. When
    neither slot holds a valid one, the compat slot's candidate is reported if there is one
    (so the reason is shown), else the 256 KB slot's.
    """
    found: list[FlashModule] = []
    for base in (GEN3_ADDR_LEGACY_USER_PART, GEN3_ADDR_USER_PART):
        raw = read(base, PREFIX_SIZE)
        if _blank(raw) or int.from_bytes(raw[:4], "little") != base:
            continue
        mod = _module_at(
            read, base, platform_id, (GEN3_ADDR_USER_PART, GEN3_USER_PART_END), prefix_bytes=raw, crc_of=crc_of
        )
        if mod is None or mod.function != ModuleFunction.USER_PART:
            continue
        if mod.valid:
            return mod
        found.append(mod)
    return found[0] if found else None


def read_flash_modules(read: ReadFn, platform_id: int, crc_of: CrcFn | None = None) -> list[FlashModule]:
    """Modules present in internal flash, in flash order (radio stack, system part, user, bootloader).

    ``crc_of`` (address, size) → CRC-32 lets the module CRCs be computed on the target, so only
    headers and CRC words are read (over SWD: about 2 KB instead of every module byte).
    """
    read = _ChunkReader(read, _SMALL_CHUNK if crc_of is not None else _CHUNK)
    mods: list[FlashModule | None] = [_radio_stack(read, platform_id)]
    sp_slot = (GEN3_ADDR_SYSTEM_PART1, GEN3_ADDR_USER_PART)
    sp = _fixed_slot(read, GEN3_ADDR_SYSTEM_PART1, platform_id, sp_slot, crc_of)
    if sp is None:
        sp = _fixed_slot(read, SYSTEM_PART1_LEGACY, platform_id, (SYSTEM_PART1_LEGACY, GEN3_ADDR_USER_PART), crc_of)
    mods.append(sp)
    mods.append(_user_part(read, platform_id, crc_of))
    boot_slot = (GEN3_ADDR_BOOTLOADER, NRF_FLASH_SIZE)
    mods.append(_fixed_slot(read, GEN3_ADDR_BOOTLOADER, platform_id, boot_slot, crc_of))
    return [m for m in mods if m is not None]


def dependencies_satisfied(modules: Sequence[FlashModule]) -> tuple[bool, list[str]]:
    """Device OS's rule: each dependency needs a valid module of that function/index at >= version.

    Dependencies of invalid modules are not checked (the module itself is already the problem).
    NCP dependencies are skipped: NCP firmware lives on the network co-processor, not in this flash.
    """
    valid = [m for m in modules if m.valid]
    problems: list[str] = []
    for mod in valid:
        for dep in mod.deps:
            if dep.function in (ModuleFunction.NONE, ModuleFunction.NCP):
                continue
            cands = [m for m in valid if m.function == dep.function and m.index == dep.index]
            if any(m.version >= dep.version for m in cands):
                continue
            have = ", ".join(f"v{m.version}" for m in cands) or "none present"
            problems.append(f"{mod.name} v{mod.version} needs {dep.describe()} ({have})")
    return (not problems, problems)
