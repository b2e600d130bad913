"""What the firmware in a twin's flash tells the outside world: modules and versions.

The USB control face (GET_MODULE_INFO, SYSTEM_VERSION) and the serial face (``s``, ``v``,
factory-test ``version``) must agree with each other and with what the boot model saw, so they
all read flash through the station's own module parser (``station.firmware.gen3``); the module
list itself, as Device OS reports it, is :mod:`station.sim.module_info`.
"""

from __future__ import annotations

from typing import Any

from station.domain import ModuleFunction
from station.sim.device import Twin


def flash_modules(twin: Twin) -> list[Any]:
    """Modules found in the twin's internal flash (valid or not), as ``read_flash_modules`` gives them."""
    from station.firmware.gen3 import read_flash_modules  # local: firmware parsing lives in one place

    flash = twin.flash

    def read(address: int, size: int) -> bytes:
        return bytes(flash[address : address + size])

    return list(read_flash_modules(read, twin.platform.id))


def version_string(module_version: int) -> str:
    """Device OS release string for a system module version, from Particle's own numbers.

    A real device prints the ``SYSTEM_VERSION_STRING`` it was built with; the twin knows only the
    module version in flash, so it looks the release up in :mod:`station.firmware.releases`
    (6200 → "6.2.0", 5901 → "5.9.0"). An unknown number is printed as the number.
    """
    from station.firmware.releases import version_string as release_name

    return release_name(module_version)


def system_module_version(twin: Twin) -> int | None:
    versions = [
        int(m.version)
        for m in flash_modules(twin)
        if m.valid and int(m.function) in (int(ModuleFunction.SYSTEM_PART), int(ModuleFunction.MONOLITHIC))
    ]
    return max(versions) if versions else None


def system_version(twin: Twin) -> str:
    """Device OS version as the device prints it (``v``, SYSTEM_VERSION); empty when none is flashed."""
    v = system_module_version(twin)
    return version_string(v) if v is not None else ""


def user_module_version(twin: Twin) -> int | None:
    users = [m for m in flash_modules(twin) if m.valid and int(m.function) == int(ModuleFunction.USER_PART)]
    return int(users[0].version) if users else None


def app_identity(twin: Twin) -> tuple[str, str]:
    """(app name, app version) of the user part, from its app descriptor; empty strings if unknown."""
    from station.firmware.appdesc import read_app_descriptor

    users = [m for m in flash_modules(twin) if m.valid and int(m.function) == int(ModuleFunction.USER_PART)]
    if not users:
        return "", ""
    desc = read_app_descriptor(bytes(twin.flash[users[0].start : users[0].end]))
    if desc is None:
        return "", str(users[0].version)
    return desc.name, desc.version
