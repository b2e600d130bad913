"""Provision one device over USB only: DfuSe (pyusb) for flashing, CDC serial for the tests.

The device is followed by its ID through every re-enumeration (DFU ↔ normal). A USB run ends with
the device in DFU mode, where no firmware runs.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from station.domain import ModuleFunction, Transport
from station.errors import (
    DeviceError,
    DeviceGone,
    TransportError,
)
from station.pipeline.firmware_set import ResolvedModule
from station.pipeline.job import Job, SlotResult
from station.pipeline.run import (
    FINISH_RUN_PRODUCT,
    DeviceRun,
    finish_run,
    report_details,
)


def _usb_writable_modules(run: DeviceRun, dfu: Any, details: dict[str, Any]) -> list[ResolvedModule]:
    """The Device OS modules to download over DFU.

    Gen3 DFU exposes the bootloader sectors read-only (particle-cli updates a bootloader through
    control requests 250-253 instead, which Particle calls "complicated"). So the station reads the
    device's bootloader back by UPLOAD: identical to the profile's → nothing to do; different or
    missing → the device must get its bootloader over SWD, and the run says so.
    """
    out = []
    for m in run.job.firmware.device_os:
        if m.info.function != ModuleFunction.BOOTLOADER:
            out.append(m)
            continue
        on_device = dfu.read(0, m.image.address, len(m.image.data))
        if on_device != m.image.data:
            raise DeviceError(
                f"the device's bootloader differs from the profile's {m.image.label}; DFU cannot write "
                "the bootloader sectors: program this device over SWD"
            )
        details["bootloader"] = "already on the device (compared by DFU upload)"
    return out


def provision_usb(job: Job, slot: str, device_id: str) -> SlotResult:
    """Provision a device reached over USB only (DFU for flashing, CDC serial for tests)."""
    run = DeviceRun(job, slot, Transport.USB)
    run.result.device_id = device_id  # over USB the device is known by its ID before anything is read
    return finish_run(run, lambda: _usb_body(run, device_id))


def _usb_body(run: DeviceRun, device_id: str) -> None:
    from station.hw.dfu import enter_dfu, open_dfu
    from station.hw.serial import open_console
    from station.hw.usb import list_usb_devices, open_control

    job = run.job
    profile = job.profile
    policy = profile.flash
    with run.rec.step("identify") as d:
        found = [u for u in list_usb_devices() if u.device_id == device_id]
        if not found:
            raise DeviceGone(f"device {device_id} is not connected over USB")
        if len(found) > 1:
            # Found by ID, never by port: two devices with one ID cannot be told apart, so neither
            # is flashed (parallel DFU with duplicate serial numbers flashed the wrong images).
            raise DeviceError(f"{len(found)} USB devices report device ID {device_id}; unplug all but one")
        info = found[0]
        if info.error:
            raise TransportError(f"device {device_id} cannot be read: {info.error}")
        if info.platform_id != profile.platform.id:
            raise DeviceError(
                f"device {device_id} is platform {info.platform_id}, the profile is for "
                f"{profile.platform.name} ({profile.platform.id})"
            )
        d.update(mode=info.mode, platform_id=info.platform_id)
        if info.mode == "normal":
            with open_control(device_id) as ctl:
                reported = ctl.get_device_id()
            if reported != device_id:
                raise DeviceError(f"USB serial number {device_id} but the device reports {reported}")
    run.begin(device_id)

    if info.mode != "dfu":
        with run.rec.step("enter-dfu"):
            enter_dfu(device_id, timeout=job.settle_timeout)

    # As over SWD: the test firmware only when there are tests, always replaced by the product's.
    test_fw = job.firmware.test if profile.tests.steps else None
    first_user = test_fw or job.firmware.product
    with run.rec.step("flash") as d:
        job.firmware.reverify()
        t0 = time.monotonic()
        with open_dfu(device_id) as dfu:
            modules = _usb_writable_modules(run, dfu, d)
            images = [m.image for m in modules] + [first_user.image]
            # Leaving DFU runs what was written: a bad image would boot safe mode, which connects.
            must_verify = policy.verify or test_fw is not None
            report = dfu.program(images, verify=must_verify, progress=run.rec.progress("flash"))
        run.hardware_s += time.monotonic() - t0
        d.update(report_details(report))
        d["modules"] = [m.image.label for m in (*modules, first_user)]
    run.record_flash([*modules, first_user])

    if test_fw is not None:
        with run.rec.step("start-test-firmware") as d:
            with open_dfu(device_id) as dfu:
                dfu.leave()
        with ExitStack() as stack:
            with run.rec.step("open-console") as d:
                serial = stack.enter_context(open_console(device_id, timeout=job.settle_timeout))
                ctl = stack.enter_context(open_control(device_id))
                d["port"] = serial.port
                d.update(run.greet(serial))
            if run.needs_setup_done():
                run.mark_setup_done()
            run.run_tests(serial=serial, usb=ctl)
        with run.rec.step("flash-final") as d:
            enter_dfu(device_id, timeout=job.settle_timeout)
            t0 = time.monotonic()
            with open_dfu(device_id) as dfu:
                verify_final = policy.verify or run.finish_action == FINISH_RUN_PRODUCT
                report = dfu.program(
                    [job.firmware.product.image], verify=verify_final, progress=run.rec.progress("flash-final")
                )
            run.hardware_s += time.monotonic() - t0
            d.update(report_details(report))
        run.record_flash([job.firmware.product])
    elif profile.tests.steps:
        # No test firmware: profile validation allows only steps that need no running firmware
        # (memory reads); the device stays in DFU and they are recorded as not applicable.
        run.run_tests(serial=None)

    with run.rec.step("secure-state") as d:
        if run.finish_action == FINISH_RUN_PRODUCT:
            with open_dfu(device_id) as dfu:
                dfu.leave()
            d["state"] = "running product firmware (override allow-first-connect)"
        else:
            now = [u for u in list_usb_devices() if u.device_id == device_id]
            if not now or now[0].mode != "dfu":
                raise TransportError("the device is not in DFU mode at the end of the run")
            d["state"] = "dfu"
    run.register_and_label()
