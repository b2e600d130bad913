"""The module list a twin's Device OS reports: GET_MODULE_INFO over USB and ``s`` in listening mode.

Built the way ``HAL_System_Info`` builds it (device-os v5.9.0 ``hal/src/nRF52840/ota_flash_hal.cpp``,
``ota_module.cpp`` ``fetch_module``, ``ota_module_bounds.c``): one entry per module slot in the
order of ``module_bounds[]`` — bootloader, system part 1, the user part (the legacy 128 KB slot
wins when both hold one; an invalid user part is not reported), the NCP on Argon/Tracker, the
radio stack. Each entry carries what ``fetch_module`` checked (range, dependencies, platform,
integrity: ``checked`` = 0x1E) and which checks passed; ``max_size`` is the slot's size, which
depends on the Device OS layout in flash (system part 1 at 0x30000 up to v6.1, at 0x28000 in v6.2).

Modules are found in flash with the station's own parser (``station.firmware.gen3``), which reads
prefixes the way binary-version-reader does; the checks Device OS adds are applied here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from station.domain import ModuleFunction
from station.sim.device import Twin
from station.sim.ncp import NCP_MAX_SIZE, has_ncp, ncp_sha, ncp_version

#: ``module_validation_flags_t`` (hal/inc/ota_flash_hal.h)
VALID_INTEGRITY = 1 << 1
VALID_DEPENDENCIES = 1 << 2
VALID_RANGE = 1 << 3
VALID_PLATFORM = 1 << 4
CHECKED = VALID_INTEGRITY | VALID_DEPENDENCIES | VALID_RANGE | VALID_PLATFORM

BOOTLOADER_MAX = 0xC000
USER_MAX = 0x40000
USER_COMPAT_START = 0xD4000
USER_COMPAT_MAX = 0x20000
#: SoftDevice unique string: SD info struct (+0x2000) + 0x18, 20 bytes (nrf_sdm.h SD_UNIQUE_STR_*)
SD_BASE = 0x1000
SD_UNIQUE_STR_OFFSET = 0x2018
SD_UNIQUE_STR_SIZE = 20


@dataclass(frozen=True)
class Layout:
    """Slot sizes of one Device OS flash layout (``ota_module_bounds.c``)."""

    system_part1_start: int
    system_part1_max: int
    radio_stack_max: int


LAYOUT_5 = Layout(0x30000, 0xA4000, 0x30000 - 0x1000)  # v5.9.0 and earlier
LAYOUT_62 = Layout(0x28000, 0x8C000, 0x27000 - 0x1000)  # v6.2.0


@dataclass(frozen=True)
class DeviceModule:
    """One entry of the device's module list, in Device OS's terms."""

    function: int
    index: int
    version: int
    platform_id: int
    max_size: int
    size: int
    checked: int
    passed: int
    sha: bytes
    deps: tuple[tuple[int, int, int], ...] = field(default_factory=tuple)
    store: str = "main"
    start: int | None = None

    @property
    def valid(self) -> bool:
        return self.passed & self.checked == self.checked


def _read(twin: Twin, address: int, size: int) -> bytes:
    return bytes(twin.flash[address : address + size])


def layout_of(modules: list) -> Layout:  # type: ignore[type-arg]
    for m in modules:
        if int(m.function) == int(ModuleFunction.SYSTEM_PART):
            return LAYOUT_62 if m.start == LAYOUT_62.system_part1_start else LAYOUT_5
    return LAYOUT_62


def device_modules(twin: Twin) -> list[DeviceModule]:
    """What ``HAL_System_Info`` lists for this twin right now."""
    from station.firmware.gen3 import read_flash_modules

    found = read_flash_modules(lambda a, n: _read(twin, a, n), twin.platform.id)
    layout = layout_of(found)
    versions: dict[tuple[int, int], int] = {(int(m.function), m.index): m.version for m in found}
    ncp = ncp_version(twin)
    if ncp is not None:
        versions[(int(ModuleFunction.NCP), 0)] = ncp

    def deps_ok(deps: tuple[tuple[int, int, int], ...]) -> bool:
        return all(versions.get((f, i), -1) >= v for f, i, v in deps)

    by_function = {int(m.function): m for m in found}
    out: list[DeviceModule] = []
    for function in (ModuleFunction.BOOTLOADER, ModuleFunction.SYSTEM_PART, ModuleFunction.USER_PART):
        m = by_function.get(int(function))
        if m is None:
            continue
        deps = tuple((int(d.function), d.index, d.version) for d in m.deps if int(d.function) != 0)
        if m.reason and "outside its slot" in m.reason:
            passed = 0  # fetch_module gives up before checking anything else
        else:
            passed = VALID_RANGE
            passed |= VALID_PLATFORM if m.platform_id == twin.platform.id else 0
            passed |= VALID_INTEGRITY if m.crc_ok else 0
            passed |= VALID_DEPENDENCIES if deps_ok(deps) else 0
        if function == ModuleFunction.USER_PART and not (passed & VALID_INTEGRITY):
            continue  # HAL_System_Info blanks an invalid user part rather than report garbage
        if function == ModuleFunction.BOOTLOADER:
            max_size = BOOTLOADER_MAX
        elif function == ModuleFunction.SYSTEM_PART:
            max_size = layout.system_part1_max
        else:
            max_size = USER_COMPAT_MAX if m.start == USER_COMPAT_START else USER_MAX
        out.append(
            DeviceModule(
                function=int(function), index=m.index, version=m.version, platform_id=m.platform_id,
                max_size=max_size, size=m.end - m.start + 4, checked=CHECKED, passed=passed,
                sha=_read(twin, m.end - 34, 32), deps=deps, start=m.start,
            )
        )  # fmt: skip
    if has_ncp(twin) and ncp is not None:
        out.append(
            DeviceModule(
                function=int(ModuleFunction.NCP), index=0, version=ncp, platform_id=twin.platform.id,
                max_size=NCP_MAX_SIZE, size=0, checked=CHECKED, passed=CHECKED, sha=ncp_sha(ncp),
            )
        )  # fmt: skip
    radio = by_function.get(int(ModuleFunction.RADIO_STACK))
    if radio is not None:
        unique = _read(twin, SD_BASE + SD_UNIQUE_STR_OFFSET, SD_UNIQUE_STR_SIZE)
        out.append(
            DeviceModule(
                function=int(ModuleFunction.RADIO_STACK), index=0, version=radio.version,
                platform_id=twin.platform.id, max_size=layout.radio_stack_max, size=0, checked=CHECKED,
                passed=CHECKED, sha=unique + bytes(32 - SD_UNIQUE_STR_SIZE),
            )
        )  # fmt: skip
    return out
