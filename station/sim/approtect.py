"""Access-port protection of the twin's nRF52840, for both silicon families a line meets.

Build code D (and earlier), nRF52840 PS v1.1 "UICR.APPROTECT": the port is locked from reset
whenever the PALL byte of UICR.APPROTECT (0x10001208) is anything but 0xFF (Disabled); only
CTRL-AP ERASEALL opens it again, which also erases the UICR. Writing 0x5A on such a part locks it.

Build code F and later (rev 3, "hardened APPROTECT"; pyOCD ``target_nRF52.py``
``HARDENED_APPROTECT_REVISIONS[0x52840] = "F0"``; nRF52840 PS v1.7 "Access port protection
controlled by hardware and software"): the port is locked at *every* reset. Firmware opens it until
the next reset by writing APPROTECT.DISABLE (0x40000558) = SwDisable (0x5A), which works only when
UICR.APPROTECT = HwDisabled (0x5A). ERASEALL through CTRL-AP opens it until the next reset too.
Device OS's bootloader is the firmware that does this: ``platform/MCU/nRF52840/src/hw_config.c``
``DWT_Init`` writes ``NRF_APPROTECT->DISABLE`` when UICR.APPROTECT is HwDisabled and the device is
not in protected security mode — from v6.0.0 (bootloader 3000) on; v5.9.0's bootloader does not.
So an F part whose core is held at the reset vector (reset-halt) stays locked whatever UICR says.
"""

from __future__ import annotations

import struct

from station.sim.boot_chain import BOOTLOADER_PREFIX_OFFSET, follow
from station.sim.device import Twin

UICR_APPROTECT = 0x208  # offset in the UICR
PALL_DISABLED = 0xFF
PALL_HW_DISABLED = 0x5A
#: first Device OS bootloader that writes APPROTECT.DISABLE (v6.0.0; absent in v5.9.0's hw_config.c)
BOOTLOADER_SW_DISABLE_SINCE = 3000


def pall(twin: Twin) -> int:
    return int(twin.uicr[UICR_APPROTECT])


def locked_at_reset(twin: Twin) -> bool:
    """Whether the port is locked the moment reset is released, before any firmware runs."""
    if twin.identity.hardened_approtect:
        return True
    return pall(twin) != PALL_DISABLED


def bootloader_opens_port(twin: Twin) -> bool:
    """Does the firmware reset runs (the bootloader) write APPROTECT.DISABLE = SwDisable on this twin?"""
    if not twin.identity.hardened_approtect or pall(twin) != PALL_HW_DISABLED:
        return False
    chain = follow(twin)
    if not chain.boots or chain.bootloader_address is None:
        return False
    prefix = chain.bootloader_address + BOOTLOADER_PREFIX_OFFSET
    version = struct.unpack_from("<H", twin.flash, prefix + 10)[0]
    return bool(version >= BOOTLOADER_SW_DISABLE_SINCE)


def protected_now(twin: Twin) -> bool:
    """The port's state between resets: D parts as latched from UICR, F parts open only if opened."""
    if twin.identity.hardened_approtect:
        return not twin.state.ap_open
    return pall(twin) != PALL_DISABLED
