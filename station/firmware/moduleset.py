"""Check that a profile's modules form a set a device can boot, before anything is flashed.

Device OS refuses to run a module whose dependencies are unmet and drops into safe mode; finding
that out on the line costs a device cycle per unit. So the station checks the set up front with
the same rule (a dependency is met by a module of that function and index with a version at
least the required one) plus what only the station can know: every module is for the profile's
platform, has a good CRC, and no two modules overwrite each other.

Flash order: bootloader, radio stack, system parts by index, other modules, user part last, so
that whatever a module depends on is already in place when it is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from station.domain import PLATFORMS_BY_ID, ModuleFlags, ModuleFunction, module_region
from station.errors import FirmwareError
from station.firmware.module import ModuleDependency, ModuleInfo, platform_label

_ORDER = {
    ModuleFunction.BOOTLOADER: 0,
    ModuleFunction.RADIO_STACK: 1,
    ModuleFunction.NCP: 2,
    ModuleFunction.SYSTEM_PART: 3,
    ModuleFunction.MONOLITHIC: 3,
    ModuleFunction.USER_PART: 9,
}


def flash_order_key(info: ModuleInfo) -> tuple[int, int]:
    return (_ORDER.get(info.function, 5), info.index)


def _label(info: ModuleInfo, names: Mapping[str, str] | None = None) -> str:
    """``user-part v6``, or ``app.bin (user-part v6)`` when the caller knows the module's file."""
    name = (names or {}).get(info.file_sha256)
    return f"{name} ({info.name} v{info.version})" if name else f"{info.name} v{info.version}"


def check_module_set(
    entries: Sequence[ModuleInfo],
    platform_id: int,
    *,
    installed: Iterable[ModuleDependency] = (),
    names: Mapping[str, str] | None = None,
    wanted_by: str = "profile",
) -> list[ModuleInfo]:
    """Return ``entries`` in flash order, or raise ``FirmwareError`` naming the first problem.

    ``installed`` lists modules known to be on the device already (function, index, version)
    for profiles that flash only part of the set; by default the set must be self-sufficient.
    NCP dependencies are not checked here: NCP firmware is not part of internal flash.
    ``names`` maps a module's file SHA-256 to what the user calls it (a file name, a profile
    role) so a problem names the files; ``wanted_by`` says who chose the platform.
    """
    if not entries:
        raise FirmwareError("the module set is empty")
    for info in entries:
        if info.platform_id != platform_id:
            raise FirmwareError(
                f"{_label(info, names)} is for {platform_label(info.platform_id)}, "
                f"{wanted_by} is {platform_label(platform_id)}"
            )
        if not info.crc_ok:
            raise FirmwareError(f"{_label(info, names)} has a bad CRC: the file is corrupt")
    seen: dict[tuple[int, int], ModuleInfo] = {}
    for info in entries:
        key = (int(info.function), info.index)
        if key in seen:
            first, second = _label(seen[key], names), _label(info, names)
            if seen[key].file_sha256 == info.file_sha256:  # the same file given twice
                raise FirmwareError(f"{first} is in the set twice: give it once")
            raise FirmwareError(f"{second} and {first} are both in the set (both are "
                                f"{info.name} index {info.index}): keep one")
        seen[key] = info
    ordered = sorted(entries, key=flash_order_key)
    _check_regions(ordered, platform_id, names)
    _check_overlaps(ordered)
    available = [(int(m.function), m.index, m.version) for m in ordered]
    available += [(int(d.function), d.index, d.version) for d in installed]
    for info in ordered:
        for dep in info.deps:
            if dep.function in (ModuleFunction.NONE, ModuleFunction.NCP):
                continue
            have = [v for f, i, v in available if f == int(dep.function) and i == dep.index]
            if not any(v >= dep.version for v in have):
                found = ", ".join(f"v{v}" for v in have) if have else "nothing in the set provides it"
                raise FirmwareError(f"{_label(info)} needs {dep.describe()}: {found}")
    return ordered


def written_span(info: ModuleInfo) -> tuple[int, int]:
    """[first, end) of the internal-flash bytes this module's file puts on the device."""
    size = info.end + 4 - info.start
    if info.flags & ModuleFlags.DROP_MODULE_INFO:
        size -= 24  # the prefix is not written (module_flash_image)
    return info.start, info.start + size


def _check_regions(ordered: Sequence[ModuleInfo], platform_id: int, names: Mapping[str, str] | None) -> None:
    """Every module inside the region its function has on the platform's MCU, or refused before flashing."""
    platform = PLATFORMS_BY_ID.get(platform_id)
    if platform is None:
        return
    for info in ordered:
        if info.function == ModuleFunction.NCP:
            continue  # the network co-processor's own flash, not the MCU's
        region = module_region(platform.mcu, int(info.function), info.index)
        first, end = written_span(info)
        if region is None:
            raise FirmwareError(f"{_label(info, names)}: a {info.name} module has no place in {platform.name}'s "
                                f"internal flash ({platform.mcu})")
        low, high = region
        if first < low or end > high:
            raise FirmwareError(
                f"{_label(info, names)} would be written at 0x{first:05X}-0x{end:05X}, outside the {info.name} "
                f"region 0x{low:05X}-0x{high:05X} of {platform.name} ({platform.mcu}): it would overwrite "
                f"{_what_is_at(platform.mcu, first if first < low else end - 1)}"
            )


def _what_is_at(mcu: str, address: int) -> str:
    if address < 0x1000:
        return "the MBR"
    if address >= 0x100000:
        return "nothing: that is past the end of the 1 MB flash"
    for function, index, name in ((ModuleFunction.RADIO_STACK, 0, "the SoftDevice"),
                                  (ModuleFunction.SYSTEM_PART, 1, "system-part1"),
                                  (ModuleFunction.USER_PART, 2, "the user part"),
                                  (ModuleFunction.BOOTLOADER, 0, "the bootloader")):
        region = module_region(mcu, int(function), index)
        if region and region[0] <= address < region[1]:
            return name
    return "the gap between modules"


def _check_overlaps(ordered: Sequence[ModuleInfo]) -> None:
    # NCP firmware lives in the network co-processor's own flash: its addresses are not the MCU's
    spans = sorted((m for m in ordered if m.function != ModuleFunction.NCP), key=lambda m: m.start)
    for a, b in pairwise(spans):
        if b.start < a.end + 4:
            raise FirmwareError(
                f"{_label(a)} (0x{a.start:05X}-0x{a.end + 4:05X}) overlaps {_label(b)} at 0x{b.start:05X}"
            )
