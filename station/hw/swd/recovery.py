"""Readback protection on the nRF52: is the chip locked, and the CTRL-AP mass erase that unlocks it.

Both are pyocd's own ``NRF52`` target methods (``is_locked``, ``mass_erase``: the CTRL-AP sequence
of Nordic's nWP-027, in ``pyocd/target/family/target_nRF52.py``); the station does not write the
CTRL-AP registers itself. What it keeps of its own, and why:

* pyocd's ``auto_unlock`` path re-creates the AHB-AP through a private discoverer call after the
  erase; the station closes the session and opens a new one instead (public API only), so the
  reopened session sees the unlocked chip exactly as a fresh connection would.
* :func:`reset_through_ctrl_ap` pulses the CTRL-AP's RESET register itself: pyocd does that only
  inside ``mass_erase``, and proving a lock needs a reset that works once the AHB-AP is shut.
* With ``auto_unlock`` pyocd also writes ``UICR.APPROTECT = HwDisabled`` on hardened-APPROTECT
  revisions. The station's recover does not: what APPROTECT a device ships with is the image
  set's business, and the UICR is rewritten by the flash step that follows.
"""

from __future__ import annotations

from typing import Any

from station.errors import DeviceTimeout, TransportError
from station.hw.swd.session import pyocd_modules


def ctrl_ap(target: Any) -> Any:
    """The nRF CTRL-AP pyocd found during discovery (``None`` if discovery never got that far)."""
    return getattr(target, "ctrl_ap", None)


def ctrl_ap_says_locked(target: Any) -> bool:
    """APPROTECT as the CTRL-AP reports it; ``False`` when it cannot be read at all.

    Asked after a failed open too: a locked nRF52 lets pyocd read the CTRL-AP but faults every
    AHB-AP access, so only the CTRL-AP can tell a locked chip from a bad contact.
    """
    _, exc = pyocd_modules()
    if target is None or ctrl_ap(target) is None or not hasattr(target, "is_locked"):
        return False
    try:
        return bool(target.is_locked())
    except exc.Error:
        return False


def mass_erase(target: Any, probe_uid: str) -> None:
    """CTRL-AP ERASEALL through pyocd, raising station errors (pyocd returns ``False`` on timeout).

    Erases internal flash and UICR only: the DCT and device key live in external flash, which the
    debug port cannot reach. pyocd errors are left to the caller's :func:`~.session.call`.
    """
    if target is None or ctrl_ap(target) is None or not hasattr(target, "mass_erase"):
        raise TransportError(f"probe {probe_uid}: no nRF CTRL-AP found, cannot recover")
    if not target.mass_erase():
        from pyocd.target.family.target_nRF52 import MASS_ERASE_TIMEOUT

        raise DeviceTimeout(f"probe {probe_uid}: mass erase did not finish in {MASS_ERASE_TIMEOUT:g} s")


def reset_through_ctrl_ap(target: Any, probe_uid: str) -> None:
    """Pulse CTRL-AP.RESET (a system reset that still works when APPROTECT has shut the AHB-AP).

    Register and values are pyocd's own constants (``target_nRF52``); pyocd errors are left to the
    caller's :func:`~.session.call`.
    """
    from pyocd.target.family import target_nRF52 as nrf

    ap = ctrl_ap(target) if target is not None else None
    if ap is None:
        raise TransportError(f"probe {probe_uid}: no nRF CTRL-AP found, cannot prove the lock")
    ap.write_reg(nrf.CTRL_AP_RESET, nrf.CTRL_AP_RESET_RESET)
    ap.write_reg(nrf.CTRL_AP_RESET, nrf.CTRL_AP_RESET_NORESET)
