"""Update one module over the control protocol and follow the device through the reset that applies it.

This is how a USB-only bench writes what DFU cannot: the bootloader (Particle: over DFU it is
"complicated") and the NCP firmware of an Argon or Tracker (the ESP32 has its own flash). Device
OS receives the module (START / DATA / FINISH, as particle-usb's ``updateFirmware`` for
``particle flash --local``), answers FINISH, applies the module — the NCP at once, anything else
by the bootloader at the next boot — and resets by itself. The station then waits for the device
to leave the bus (or come back at a new address), finds it again **by device ID**, and verifies
the result through GET_MODULE_INFO: the module it sent must be reported, valid, at its version
and (where Device OS reports a real hash) with its SHA-256.

Whether the reset is safe is the caller's business: the device boots whatever its flash holds, so
the pipeline only updates while the factory-test firmware (MANUAL mode, no cloud) is what runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from station.domain import ModuleFunction, ModuleStatus
from station.errors import DeviceGone, DeviceTimeout, VerifyError
from station.hw.interfaces import ProgressFn, no_progress
from station.hw.usb import find_device, open_control

_POLL_S = 0.05


@dataclass(frozen=True)
class ExpectedModule:
    """What the device must report afterwards."""

    function: int
    index: int
    version: int
    sha256: str  # the module's suffix SHA-256 (hex)
    label: str = ""


def _where(device_id: str) -> tuple[str, int | None, int | None] | None:
    found = find_device(device_id)
    if found is None:
        return None
    info = found[1]
    return info.mode, info.bus, info.address


def wait_for_reset(device_id: str, before: tuple[str, int | None, int | None] | None, timeout: float) -> None:
    """Until the device left the bus, or re-enumerated (a new address or mode), or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        now = _where(device_id)
        if now is None or now != before:
            return
        if time.monotonic() >= deadline:
            raise DeviceTimeout(f"{device_id}: did not reset within {timeout:.0f} s of the firmware update")
        time.sleep(_POLL_S)


def wait_for_normal(device_id: str, timeout: float) -> None:
    """Until the device is back in normal mode; coming back in DFU mode means nothing bootable ran."""
    deadline = time.monotonic() + timeout
    while True:
        now = _where(device_id)
        if now is not None and now[0] == "normal":
            return
        if time.monotonic() >= deadline:
            if now is not None and now[0] == "dfu":
                raise VerifyError(f"{device_id}: came back in DFU mode after the update: its firmware did not start")
            raise DeviceTimeout(f"{device_id}: did not come back on USB within {timeout:.0f} s of the update")
        time.sleep(_POLL_S)


def reported(modules: list[ModuleStatus], want: ExpectedModule) -> ModuleStatus | None:
    return next((m for m in modules if (m.function, m.index) == (want.function, want.index)), None)


def check_reported(device_id: str, modules: list[ModuleStatus], want: ExpectedModule) -> ModuleStatus:
    """The device reports ``want``: present, valid, at its version, with its SHA where one is reported."""
    label = want.label or f"module {want.function}/{want.index}"
    got = reported(modules, want)
    if got is None:
        raise VerifyError(f"{device_id}: does not report {label} after the update")
    if got.version != want.version:
        raise VerifyError(f"{device_id}: reports {label} at v{got.version}, expected v{want.version}")
    if not got.valid:
        raise VerifyError(f"{device_id}: reports {label} v{got.version} as invalid (failed checks 0x{got.failed_checks:02X})")
    # Device OS reports a stand-in hash for the NCP and radio stack; only real suffix hashes compare
    real_hash = want.function not in (int(ModuleFunction.NCP), int(ModuleFunction.RADIO_STACK))
    if real_hash and got.sha256 and got.sha256 != want.sha256:
        raise VerifyError(f"{device_id}: reports {label} with SHA-256 {got.sha256[:12]}…, expected {want.sha256[:12]}…")
    return got


def update_module(
    device_id: str,
    data: bytes,
    want: ExpectedModule,
    *,
    timeout: float = 60.0,
    progress: ProgressFn = no_progress,
) -> ModuleStatus:
    """Send ``data`` (a whole module file), follow the reset, return what the device then reports."""
    before = _where(device_id)
    if before is None or before[0] != "normal":
        raise DeviceGone(f"{device_id}: not on USB in normal mode: Device OS must run to take an update")
    with open_control(device_id) as ctl:
        ctl.update_firmware(data, progress=progress)
    wait_for_reset(device_id, before, timeout)
    wait_for_normal(device_id, timeout)
    with open_control(device_id) as ctl:
        modules = ctl.get_module_info()
    return check_reported(device_id, modules, want)
