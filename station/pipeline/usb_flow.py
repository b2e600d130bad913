"""Provision one device over USB only: DfuSe for the MCU's flash, the control protocol for the rest.

The device is followed by its ID through every re-enumeration (DFU ↔ normal, and the resets that
apply updates). A USB run ends with the device in DFU mode, where no firmware runs.

What DFU cannot write goes over Device OS's firmware-update control requests while Device OS
runs (:mod:`station.hw.usb_update`): the **bootloader** (Gen3 DFU exposes its sectors, but
Particle updates it through Device OS, which checks and applies it at the next boot) and the
**NCP** firmware of an Argon or Tracker (the ESP32 has its own flash). Device OS applies each at a
reset, so the device must run without a cloud connection while that happens: the station only
does it while the profile's factory-test firmware runs in MANUAL mode, and refuses — before
anything is written — when it cannot:

* no factory-test firmware in the profile, or one that is not MANUAL (it would connect);
* the bootloader on the device is older than the new Device OS needs: leaving DFU would boot
  Device OS with an unmet dependency, i.e. safe mode, which connects. That device needs its
  bootloader over SWD.
"""

from __future__ import annotations

import struct
import time
from contextlib import ExitStack
from typing import Any

from station.domain import GEN3_ADDR_BOOTLOADER, FlashImage, ModuleFunction, Transport
from station.errors import DeviceError, DeviceGone, FirmwareError, StationError, TransportError
from station.firmware.appdesc import read_app_descriptor
from station.firmware.boot_check import overlay_reader, product_problems
from station.firmware.boot_gate import gate_for
from station.firmware.module import PREFIX_SIZE, parse_module
from station.hw.interfaces import DfuTarget, UsbControl
from station.pipeline.context import SlotContext
from station.pipeline.firmware_set import ResolvedModule
from station.pipeline.job import Job, SlotResult
from station.pipeline.power import PowerState
from station.pipeline.run import FINISH_RUN_PRODUCT, DeviceRun, finish_run, report_details

#: where the Gen3 bootloader's prefix sits (after its 0x200-byte vector table)
_BOOTLOADER_PREFIX = GEN3_ADDR_BOOTLOADER + 0x200
#: a control-protocol update, its reset and the device coming back (an NCP update takes longest)
UPDATE_TIMEOUT_S = 120.0


def _device_bootloader(dfu: DfuTarget) -> tuple[int, bytes] | None:
    """(version, file bytes) of the bootloader the device has, read back by DFU UPLOAD; None if unreadable."""
    prefix = dfu.read(0, _BOOTLOADER_PREFIX, PREFIX_SIZE)
    start, end = struct.unpack_from("<II", prefix)
    if start != GEN3_ADDR_BOOTLOADER or not start < end < 0x100000 - 4:
        return None
    data = dfu.read(0, start, end + 4 - start)
    try:
        info = parse_module(data)
    except FirmwareError:
        return None
    return (info.version, data) if info.crc_ok and info.function == ModuleFunction.BOOTLOADER else None


def _bootloader_needed(run: DeviceRun) -> int:
    """The highest bootloader version any module the run boots depends on."""
    fw = run.job.firmware
    modules = [*fw.mcu_modules, fw.product, *([fw.test] if fw.test else [])]
    return max(
        (d.version for m in modules for d in m.info.deps if d.function == ModuleFunction.BOOTLOADER), default=0
    )


def _plan(run: DeviceRun, dfu: DfuTarget, details: dict[str, Any]) -> tuple[list[ResolvedModule], list[ResolvedModule]]:
    """(modules DFU writes, modules that go over the control protocol), refusing what cannot be done safely."""
    fw = run.job.firmware
    over_dfu: list[ResolvedModule] = []
    over_control: list[ResolvedModule] = []
    for m in fw.mcu_modules:
        if m.info.function != ModuleFunction.BOOTLOADER:
            over_dfu.append(m)
            continue
        if dfu.read(0, m.image.address, len(m.image.data)) == m.image.data:
            details["bootloader"] = "already on the device (compared by DFU upload)"
            continue
        current = _device_bootloader(dfu)
        if current is None:
            raise DeviceError(
                "the device's bootloader is missing or unreadable; only SWD can write one: program this device over SWD"
            )
        needed = _bootloader_needed(run)
        if current[0] < needed:
            raise DeviceError(
                f"the device's bootloader v{current[0]} is older than the profile's Device OS needs (v{needed}): "
                "it would boot into safe mode, which connects to the cloud; program the bootloader over SWD"
            )
        details["bootloader"] = f"v{current[0]} on the device; {m.image.label} goes over the control protocol"
        over_control.append(m)
    if fw.ncp is not None:
        over_control.append(fw.ncp)
    if over_control:
        what = " and ".join(m.image.label for m in over_control)
        runner = fw.test
        if runner is None:
            raise DeviceError(
                f"{what} can only be written over USB while Device OS runs without a cloud connection; "
                "the profile needs factory-test firmware (MANUAL mode) for that, or program this device over SWD"
            )
        desc = read_app_descriptor(runner.image.data)
        if desc is None or desc.connects_to_cloud:
            raise DeviceError(
                f"{what} needs Device OS to run while the update is applied, and {runner.image.label} "
                "is not MANUAL-mode factory-test firmware: it would connect to the cloud"
            )
    return over_dfu, over_control


def provision_usb(job: Job, slot: str, device_id: str, ctx: SlotContext | None = None) -> SlotResult:
    """Provision a device reached over USB only (DFU for flashing, CDC serial for tests)."""
    run = DeviceRun(job, slot, Transport.USB, ctx)
    run.result.device_id = device_id  # over USB the device is known by its ID before anything is read
    run.rec.device_id = device_id
    return finish_run(run, lambda: _usb_body(run, device_id), device_id)


def _identify(run: DeviceRun, device_id: str) -> str:
    from station.hw.usb import list_usb_devices, open_control

    profile = run.job.profile
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
                listening = _is_listening(ctl)
            if reported != device_id:
                raise DeviceError(f"USB serial number {device_id} but the device reports {reported}")
            if listening:
                d["listening"] = _read_listening(run, device_id)
        return info.mode


def _is_listening(ctl: UsbControl) -> bool:
    from station.errors import RequestNotSupported

    try:
        return bool(ctl.is_listening())
    except RequestNotSupported:  # a Device OS without GET_DEVICE_MODE
        return False


def _read_listening(run: DeviceRun, device_id: str) -> dict[str, Any]:
    """A device in listening mode says who it is on its console (``i``): keep its serial number and SIM IDs.

    Device OS prints the device secret in the same answer; the parser drops it, so it never
    reaches the run, its record or a log.
    """
    from station.hw.serial import open_console

    with open_console(device_id, timeout=run.job.settle_timeout) as con:
        info = con.identify()
    run.serial_number = info.serial_number or run.serial_number
    run.imei = info.imei or run.imei
    run.iccid = info.iccid or run.iccid
    return {"serial_number": info.serial_number, "imei": info.imei, "iccid": info.iccid}


def _update_over_control(run: DeviceRun, device_id: str, module: ResolvedModule) -> None:
    """One module over the control protocol, followed through its reset and verified by module info."""
    from station.hw.usb import open_control, wait_for_device
    from station.hw.usb_update import ExpectedModule, reported, update_module

    role = module.ref.role
    want = ExpectedModule(
        int(module.info.function), module.info.index, module.info.version, module.info.sha256, module.image.label
    )
    with run.rec.step(f"update-{role}") as d:
        wait_for_device(device_id, "normal", run.job.settle_timeout)
        if module.info.function == ModuleFunction.NCP:
            # Device OS reports the NCP by version only (its "hash" is the version repeated)
            with open_control(device_id) as ctl:
                now = reported(ctl.get_module_info(), want)
            if now is not None and now.valid and now.version == want.version:
                d["already"] = f"v{now.version}"
                return
            d["from_version"] = now.version if now is not None else None
        data = run.job.firmware.cache.read(module.sha256)
        t0 = time.monotonic()
        got = update_module(
            device_id, data, want, timeout=UPDATE_TIMEOUT_S, progress=run.rec.progress(f"update-{role}")
        )
        run.hardware_s += time.monotonic() - t0
        d.update(version=got.version, valid=got.valid, sha256=got.sha256, followed_reset=True)
    run.record_flash([module])


def _check_module_info(run: DeviceRun, device_id: str, modules: list[ResolvedModule]) -> None:
    """What Device OS reports must be what was written: every module present, valid, same version and SHA."""
    from station.hw.usb import open_control
    from station.hw.usb_update import ExpectedModule, check_reported

    with run.rec.step("module-info") as d, open_control(device_id) as ctl:
        reported = ctl.get_module_info()
        for m in modules:
            if m.info.function == ModuleFunction.RADIO_STACK:
                continue  # Device OS reports the SoftDevice's FWID and a stand-in hash
            check_reported(
                device_id, reported,
                ExpectedModule(int(m.info.function), m.info.index, m.info.version, m.info.sha256, m.image.label),
            )  # fmt: skip
        d["modules"] = [f"{m.function}/{m.index} v{m.version}" for m in reported]


def _close_gate(run: DeviceRun, dfu: DfuTarget, d: dict[str, Any]) -> None:
    """Erase the system part's first page (verified by UPLOAD): the bootloader then stays in DFU."""
    gate = run.gate
    dfu.program(gate.closed_images, verify=True)
    run.power = PowerState.CLOSED
    d["boot_gate"] = f"closed ({gate.describe()} erased): the bootloader stays in DFU until the run opens it"


def _open_gate(run: DeviceRun, device_id: str, verified: list[FlashImage], *, name: str, product: bool) -> None:
    """Prove what will run, then write the gate pages back, verified by UPLOAD: Device OS may start."""
    from station.hw.dfu import open_dfu

    gate = run.gate
    with run.rec.step(name) as d, open_dfu(device_id) as dfu:
        _usb_proof(run, dfu, verified, d, product=product)
        if product:
            run.power = PowerState.OPENING
        t0 = time.monotonic()
        dfu.program(gate.open_images, verify=True)
        run.hardware_s += time.monotonic() - t0
        run.power = PowerState.PRODUCT if product else PowerState.TEST
        d["boot_gate"] = f"open ({gate.describe()} written and verified): " + (
            "the product firmware runs when the device leaves DFU" if product
            else "the MANUAL-mode factory-test firmware runs when the device leaves DFU"
        )


def _usb_proof(run: DeviceRun, dfu: DfuTarget, verified: list[FlashImage], d: dict[str, Any], *, product: bool) -> None:
    """The module table of the flash as Device OS would read it, from DFU UPLOAD: the user part that
    will run is exactly the one written (the factory-test firmware before the tests; the product,
    with no factory-test image left, before a pass).

    Bytes a verify of this run proved are taken from the images; the gate pages as the next write
    (verified too) puts them; everything else is read from the device.
    """
    fw = run.job.firmware
    runs, what = (fw.product, "product") if product or fw.test is None else (fw.test, "factory-test firmware")
    t0 = time.monotonic()
    read = overlay_reader([*verified, *run.gate.open_images], lambda a, n: dfu.read(0, a, n))
    left = fw.test.image if product and fw.test is not None else None
    problems = product_problems(read, run.job.profile.platform.id, runs.image, left, what=what)
    run.hardware_s += time.monotonic() - t0
    if problems:
        d["problems"] = problems
        raise DeviceError(f"would not run the {what}: " + "; ".join(problems))
    d["runs"] = f"{runs.image.label}, SHA-256 {runs.sha256[:12]}…" + (
        "; no factory-test image left" if what == "product" else "")


def _recover_gate(run: DeviceRun, device_id: str) -> None:
    """After a failure with the product behind an open gate: close it again, if the device still answers."""
    from station.hw.dfu import open_dfu

    try:
        with open_dfu(device_id) as dfu:
            dfu.program(run.gate.closed_images, verify=True)
        run.power = PowerState.CLOSED
        run.made_safe = "the station disabled Device OS again: the device stays in DFU until it is re-flashed"
    except StationError:
        pass  # gone, or not in DFU: the attempt says the device is unsafe to power


def _usb_body(run: DeviceRun, device_id: str) -> None:
    try:
        _usb_steps(run, device_id)
    finally:
        if run.power.would_connect and not run.registered and not run.released and not run.busy:
            _recover_gate(run, device_id)


def _usb_steps(run: DeviceRun, device_id: str) -> None:
    from station.hw.dfu import enter_dfu, open_dfu
    from station.hw.serial import open_console
    from station.hw.usb import list_usb_devices, open_control

    job = run.job
    profile = job.profile
    policy = profile.flash
    mode = _identify(run, device_id)
    run.begin(device_id)

    if mode != "dfu":
        with run.rec.step("enter-dfu"):
            enter_dfu(device_id, timeout=job.settle_timeout)

    with run.rec.step("flash") as d:
        job.firmware.reverify()
        t0 = time.monotonic()
        with open_dfu(device_id) as dfu:
            over_dfu, over_control = _plan(run, dfu, d)
            # The factory-test firmware runs first when there are tests, or when Device OS must run
            # to take an update; the product's always replaces it before the device can pass.
            runner = job.firmware.test if (profile.tests.steps or over_control) else None
            first_user = runner or job.firmware.product
            images = [m.image for m in over_dfu] + [first_user.image]
            run.gate = gate = gate_for(job.firmware.system_part_image, lambda a, n: dfu.read(0, a, n))
            # Before anything else changes: from here until the gate opens, a power-up stays in DFU.
            _close_gate(run, dfu, d)
            # Leaving DFU runs what was written: a bad image would boot safe mode, which connects.
            must_verify = policy.verify or runner is not None
            report = dfu.program(gate.without_pages(images), verify=must_verify, progress=run.rec.progress("flash"))
        run.hardware_s += time.monotonic() - t0
        d.update(report_details(report))
        d["modules"] = [m.image.label for m in (*over_dfu, first_user)]
        if over_control:
            d["over_control_protocol"] = [m.image.label for m in over_control]
    run.record_flash([*over_dfu, first_user])
    verified = gate.without_pages(images) if must_verify else []

    if runner is not None:
        _open_gate(run, device_id, verified, name="enable-boot", product=False)
        with run.rec.step("start-test-firmware"):
            with open_dfu(device_id) as dfu:
                dfu.leave()
        for module in over_control:
            _update_over_control(run, device_id, module)
        if over_control:
            _check_module_info(run, device_id, [*job.firmware.device_os, runner])
        if profile.tests.steps:
            with ExitStack() as stack:
                with run.rec.step("open-console") as d:
                    serial = stack.enter_context(open_console(device_id, timeout=job.settle_timeout))
                    ctl = stack.enter_context(open_control(device_id))
                    d["port"] = serial.port
                    d.update(run.greet(serial))
                if run.needs_setup_done():
                    run.mark_setup_done()
                run.run_tests(serial=serial, usb=ctl)
        final = run.final_images()
        with run.rec.step("flash-final") as d:
            enter_dfu(device_id, timeout=job.settle_timeout)
            t0 = time.monotonic()
            with open_dfu(device_id) as dfu:
                _close_gate(run, dfu, d)
                # Always verified: the product proof takes the product's bytes from this verify.
                report = dfu.program(final, verify=True, progress=run.rec.progress("flash-final"))
            run.hardware_s += time.monotonic() - t0
            d.update(report_details(report))
        run.record_flash([job.firmware.product])
        # Device OS as DFU wrote and verified it before the tests (not the factory-test image the
        # product replaced); a bootloader that went over the control protocol is read from the device.
        verified = (gate.without_pages([m.image for m in over_dfu]) if verified else []) + final
    elif profile.tests.steps:
        # No test firmware: profile validation allows only steps that need no running firmware
        # (memory reads); the device stays in DFU and they are recorded as not applicable.
        run.run_tests(serial=None)
    _open_gate(run, device_id, verified, name="enable-boot-final", product=True)

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
