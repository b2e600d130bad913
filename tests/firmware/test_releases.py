"""The demo set is the release it is named after, and module versions get release names from Particle's table.

The expected numbers are Device OS's own, read at tag v6.2.0 of particle-iot/device-os:
``build/version.mk`` (VERSION_STRING 6.2.0), ``modules/shared/system_module_version.mk``
(COMMON_MODULE_VERSION 6200, BOOTLOADER_VERSION 3100, BOOTLOADER_DEPENDENCY 3100; the Tracker's
SYSTEM_PART1_MODULE_DEPENDENCY2 is system part 1 >= 3001) and
``build/arm/linker/nrf52840/platform_flash.ld`` (its assertions: bootloader 0xF4000, user part
0xB4000, system-part1 0x28000, MBR parameter page 0x27000-0x28000).
"""

from __future__ import annotations

import pytest

from station.domain import ModuleFunction
from station.firmware.demo import DEVICE_OS_VERSION, build_demo_modules
from station.firmware.module import parse_module
from station.firmware.releases import RELEASES, version_string

GEN3 = ["argon", "boron", "bsom", "b5som", "tracker", "esomx"]


@pytest.mark.parametrize("platform", GEN3)
def test_the_demo_set_is_device_os_6_2_0(platform: str) -> None:
    assert DEVICE_OS_VERSION == "6.2.0"
    info = {k: parse_module(v) for k, v in build_demo_modules(platform).items()}
    boot, sp = info["bootloader"], info["system-part1"]
    assert (boot.function, boot.version, boot.start) == (ModuleFunction.BOOTLOADER, 3100, 0xF4000)
    assert (sp.function, sp.index, sp.version, sp.start) == (ModuleFunction.SYSTEM_PART, 1, 6200, 0x28000)
    deps = {tuple(d.to_json()) for d in sp.deps}
    assert (2, 0, 3100) in deps  # BOOTLOADER_DEPENDENCY
    if platform == "tracker":
        assert (4, 1, 3001) in deps
    else:
        assert (8, 0, 202) in deps  # SOFTDEVICE_DEPENDENCY
    for key in ("user-product", "user-factory-test"):
        assert info[key].start == 0xB4000 and info[key].deps[0].to_json() == [4, 1, 6200]
    assert version_string(sp.version) == DEVICE_OS_VERSION
    assert RELEASES[DEVICE_OS_VERSION].system == sp.version and RELEASES[DEVICE_OS_VERSION].bootloader == boot.version


@pytest.mark.parametrize(
    ("module_version", "name"),
    [(5901, "5.9.0"), (5410, "5.4.1"), (4006, "4.0.2"), (3005, "3.0.0"), (5501, "5.5.0"), (6200, "6.2.0")],
)
def test_release_names_come_from_particles_table_not_a_formula(module_version: int, name: str) -> None:
    assert version_string(module_version) == name


def test_a_version_outside_the_table_is_shown_as_its_number() -> None:
    assert version_string(5999) == "5999"
