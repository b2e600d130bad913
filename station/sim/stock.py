"""Twins as they arrive from the module maker, and chips as they arrive from Nordic.

A Particle module leaves the module maker's line with the MBR page, its bootloader and the UICR
words the MBR and the bootloader rely on (NRFFW[0] = the bootloader, NRFFW[1] = the MBR parameter
page): what Particle's device-restore images put on a chip. :func:`ship_stock` makes a twin
like that; a chip fresh from Nordic (``station sim create --blank``) has none of it, never boots
and shows nothing on USB.

The bytes are the demo's (the demo bootloader and the demo base image); what the twin does with
them at reset is :mod:`station.sim.boot_chain`'s business, not the station's code.
"""

from __future__ import annotations

import struct

from station.firmware.base_image import demo_mbr
from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module
from station.firmware.releases import mbr_params_page
from station.sim.approtect import PALL_DISABLED, PALL_HW_DISABLED, UICR_APPROTECT
from station.sim.boot_chain import MBR_PAGE, UICR_NRFFW0
from station.sim.device import Twin

#: where the module maker points the MBR: Particle's bootloader slot (device-os platform_flash.ld)
BOOTLOADER_ADDRESS = 0xF4000


def _write_bootloader(twin: Twin) -> int:
    data = build_demo_modules(twin.platform.name)["bootloader"]
    info = parse_module(data)
    img = module_flash_image(data, info, "bootloader")
    with twin.lock:
        twin.flash[img.address : img.end] = img.data
    return info.version


def ship_with_bootloader(*twins: Twin) -> None:
    """Only the bootloader (a device whose MBR and UICR are already in place, or a test of that)."""
    for twin in twins:
        twin.events.record("stocked", bootloader=_write_bootloader(twin))


def ship_stock(*twins: Twin) -> None:
    """MBR page, bootloader and UICR.NRFFW[0]/[1], as the module maker ships a module.

    On a hardened (build code F) part UICR.APPROTECT is HwDisabled as well, unless it was locked.
    """
    mbr = demo_mbr()
    for twin in twins:
        version = _write_bootloader(twin)
        nrffw = struct.pack("<II", BOOTLOADER_ADDRESS, mbr_params_page(version))
        with twin.lock:
            twin.flash[0:MBR_PAGE] = mbr
            twin.uicr[UICR_NRFFW0 : UICR_NRFFW0 + 8] = nrffw
            if twin.identity.hardened_approtect and twin.uicr[UICR_APPROTECT] == PALL_DISABLED:
                # The maker's programmer leaves a hardened part HwDisabled, as pyOCD's persist_unlock
                # does on every connect to an F0+ part (target_nRF52.py): debuggable after its boot.
                twin.uicr[UICR_APPROTECT] = PALL_HW_DISABLED
        twin.events.record("stocked", bootloader=version, mbr=True, uicr_nrffw=True)
