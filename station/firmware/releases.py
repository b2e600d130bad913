"""Device OS releases by the module versions they carry: Particle's own numbers, not a formula.

Every row was read from the release's tag in particle-iot/device-os: ``build/version.mk``
(``VERSION_STRING``) and ``modules/shared/system_module_version.mk`` (``COMMON_MODULE_VERSION``,
the version of every system part, and ``BOOTLOADER_VERSION``). The numbering is Particle's
bookkeeping — bumped once per prerelease, skipping to the next hundred at minor releases — so
``X*1000 + Y*100 + Z`` is wrong as often as it is right: 5.9.0 is 5901 (that rule says 5900, and
reads 5901 back as "5.9.1"), 5.4.1 is 5410, 4.0.2 is 4006, 3.0.0 is 3005.

A module version that is not in the table is reported as the number, never guessed into a name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    name: str  # VERSION_STRING, e.g. "6.2.0"
    system: int  # COMMON_MODULE_VERSION: every system part's module version
    bootloader: int  # BOOTLOADER_VERSION shipped with it


#: (release, system module version, bootloader version) for every 3.x–6.x tag, oldest first.
_ROWS = (
    ("3.0.0-alpha.1", 3000, 1005), ("3.0.0-alpha.2", 3001, 1005), ("3.0.0-beta.1", 3002, 1005),
    ("3.0.0-rc.1", 3003, 1005), ("3.0.0-rc.2", 3004, 1005), ("3.0.0", 3005, 1005),
    ("3.1.0-rc.1", 3102, 1100), ("3.1.0", 3103, 1100), ("3.2.0-rc.1", 3200, 1100), ("3.2.0", 3201, 1100),
    ("3.3.0-rc.1", 3300, 1100), ("3.3.0", 3301, 1100), ("3.3.1", 3302, 1100),
    ("4.0.0-alpha.1", 4000, 1100), ("4.0.0-alpha.2", 4001, 1101), ("4.0.0-beta.1", 4002, 1101),
    ("4.0.0", 4003, 1101), ("4.0.1-rc.1", 4004, 1101), ("4.0.1", 4005, 1101), ("4.0.2", 4006, 1101),
    ("4.1.0", 4100, 1200), ("4.2.0", 4200, 1200),
    ("5.0.0-alpha.1", 5000, 2000), ("5.0.0-alpha.2", 5001, 2000), ("5.0.0", 5002, 2000), ("5.0.1", 5003, 2001),
    ("5.1.0", 5004, 2001), ("5.2.0", 5200, 2002), ("5.3.0", 5300, 2100), ("5.3.1", 5301, 2101),
    ("5.3.2", 5302, 2102), ("5.4.0", 5400, 2200), ("5.4.1", 5410, 2210), ("5.5.0-rc.1", 5500, 2300),
    ("5.5.0", 5501, 2300), ("5.6.0", 5600, 2400), ("5.7.0", 5700, 2500), ("5.8.0", 5800, 2600),
    ("5.8.2", 5802, 2601), ("5.9.0", 5901, 2700),
    ("6.0.0", 6000, 3000), ("6.1.0", 6100, 3000), ("6.1.1", 6101, 3001), ("6.2.0", 6200, 3100),
)

RELEASES: dict[str, Release] = {name: Release(name, system, boot) for name, system, boot in _ROWS}
_BY_SYSTEM: dict[int, Release] = {r.system: r for r in RELEASES.values()}

#: nRF52840 flash layout changes (device-os ``build/arm/linker/nrf52840/platform_flash.ld``): up to
#: 6.1.x system-part1 starts at 0x30000 and the MBR parameter page is 0x2F000; from 6.2.0 on it is
#: 0x28000 and 0x27000 (``hw_config.c`` moves NRFFW[1] from the legacy page, a 1→0 bit flip).
SYSTEM_PART1_LAYOUT_6_2 = 6200
MBR_PARAMS_PAGE = 0x27000
MBR_PARAMS_PAGE_LEGACY = 0x2F000
#: Device OS 6.0.0 (bootloader 3000) is the first whose bootloader re-opens a hardened APPROTECT
#: (``NRF_APPROTECT->DISABLE = 0x5A`` when UICR.APPROTECT is HwDisabled; ``hw_config.c`` DWT_Init).
APPROTECT_SW_DISABLE_SINCE_BOOTLOADER = 3000


def release(name: str) -> Release | None:
    return RELEASES.get(name)


def release_of_system_version(module_version: int) -> Release | None:
    return _BY_SYSTEM.get(module_version)


def version_string(module_version: int) -> str:
    """The release a system module version belongs to ("6.2.0"), or the bare number if unknown."""
    rel = _BY_SYSTEM.get(module_version)
    return rel.name if rel else str(module_version)


def mbr_params_page(bootloader_version: int) -> int:
    """Where a bootloader of this version puts the MBR parameter page (UICR.NRFFW[1])."""
    return MBR_PARAMS_PAGE if bootloader_version >= RELEASES["6.2.0"].bootloader else MBR_PARAMS_PAGE_LEGACY
