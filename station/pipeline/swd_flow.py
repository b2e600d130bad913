"""Provision one device over SWD (pyocd): identify → registry check → flash → verify →
factory-test firmware and functional tests → product firmware → halted → register → label.

Whatever happens the core is left halted (or held in reset): the product firmware never runs while
the station holds the device, and the ``secure-state`` step checks it instead of assuming it.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from station.domain import (
    APPROTECT_PALL_DISABLED,
    APPROTECT_PALL_HW_DISABLED,
    NRF_FICR_VARIANT,
    NRF_PAGE_SIZE,
    NRF_UICR_APPROTECT,
    UICR_APPROTECT_HW_DISABLED,
    FlashImage,
    Transport,
    hardened_approtect,
    nrf_variant,
)
from station.errors import (
    DeviceError,
    DeviceLocked,
    StationError,
    TransportError,
)
from station.firmware.base_image import mbr_problem
from station.firmware.boot_check import boot_problems, overlay_reader, product_problems
from station.firmware.boot_gate import BLANK_PAGE_CRC, gate_for
from station.hw.interfaces import EraseStrategy, SwdLink
from station.pipeline.context import SlotContext
from station.pipeline.job import Job, SlotResult
from station.pipeline.power import PowerState
from station.pipeline.run import (
    FINISH_RUN_PRODUCT,
    DeviceRun,
    finish_run,
    report_details,
)


def provision_swd(job: Job, slot: str, probe_uid: str, ctx: SlotContext | None = None) -> SlotResult:
    """Provision the device behind one probe. Never raises for device problems: see the result."""
    from station.hw.swd import PyocdSwdLink

    run = DeviceRun(job, slot, Transport.SWD, ctx)
    # typed as the interface: the flow uses only what every SwdLink offers (mypy holds the class to it)
    link: SwdLink = PyocdSwdLink(probe_uid, target=job.profile.platform.mcu, frequency=job.swd_frequency)

    def body() -> None:
        with ExitStack() as stack:
            with run.rec.step("connect") as d:
                stack.enter_context(link)
                d["probe"] = probe_uid
            try:
                _swd_body(run, link, stack)
            finally:
                _swd_secure(run, link)

    return finish_run(run, body, probe_uid)


def _swd_body(run: DeviceRun, link: SwdLink, stack: ExitStack) -> None:
    from station.hw.serial import open_console

    job = run.job
    profile = job.profile
    policy = profile.flash
    with run.rec.step("identify") as d:
        if link.is_locked():
            d["locked"] = True
            if not (policy.allow_recover and run.recover_confirmed_by):
                raise DeviceLocked(
                    "the chip is locked (APPROTECT)"
                    + ("" if policy.allow_recover else "; the profile does not allow recovering it")
                    + ("" if run.recover_confirmed_by else "; an engineer must confirm the recovery")
                )
            try:
                link.recover()
            except StationError as exc:
                job.registry.audit("recover-locked-chip", operator=run.recover_confirmed_by, station=job.station,
                                   details={"slot": run.result.slot, "probe": link.probe_uid,
                                            "result": f"failed: {exc}"})
                raise
            d["recovered_by"] = run.recover_confirmed_by
        device_id = link.read_device_id()
        if d.get("locked"):
            # After the erase the chip can say who it is: the audit row names the device (issue 10 item 17).
            job.registry.audit("recover-locked-chip", operator=run.recover_confirmed_by or "", station=job.station,
                               device_id=device_id,
                               details={"slot": run.result.slot, "probe": link.probe_uid, "result": "recovered"})
        d["device_id"] = device_id
        variant = nrf_variant(link.read32(NRF_FICR_VARIANT))
        hardened = hardened_approtect(variant)
        d["variant"] = variant  # FICR INFO.VARIANT: build code D, or F (hardened APPROTECT)
        d["hardened_approtect"] = hardened
    run.begin(device_id)

    # The factory-test firmware is only worth flashing when there are tests for it to run; when it
    # is flashed, the product firmware always replaces it before the device can pass.
    test_fw = job.firmware.test if profile.tests.steps else None
    first_user = test_fw or job.firmware.product
    images = [*job.firmware.device_os_images, first_user.image]
    with run.rec.step("flash") as d:
        if job.firmware.ncp is not None:
            raise DeviceError(
                f"the profile updates the NCP firmware ({job.firmware.ncp.image.label}), which SWD cannot reach "
                "(the ESP32 has its own flash): provision this product on a USB bench"
            )
        job.firmware.reverify()
        t0 = time.monotonic()
        written = _with_base_image(run, link, images, d)
        run.gate = gate = gate_for(job.firmware.system_part_image, link.read_memory)
        # Before anything else changes: from here until the gate opens, a power-up stays in DFU.
        _close_gate(run, link, d)
        report = link.program(
            gate.without_pages(written),
            verify=False,
            smart=policy.smart,
            erase=EraseStrategy(policy.erase),
            progress=run.rec.progress("flash"),
        )
        _write_uicr(run, link, hardened, d)
        run.hardware_s += time.monotonic() - t0
        d.update(report_details(report))
        d["modules"] = [m.image.label for m in (*job.firmware.mcu_modules, first_user)]
    run.record_flash([*job.firmware.mcu_modules, first_user])
    verified = gate.without_pages(images) if (policy.verify or test_fw is not None) else []
    if verified:
        # Firmware is about to run: a bad image would boot into safe mode, which connects.
        _swd_verify(run, link, verified)

    # Before the firmware first runs: a chip that cannot boot fails here, for its real reason; and
    # with no factory-test firmware, the product written is proven to be what will run.
    _swd_boot_check(run, link, verified, name="boot-proof", product=test_fw is None)
    _open_gate(run, link, name="enable-boot", behind_product=test_fw is None)
    if profile.tests.steps:
        serial = None
        if test_fw is not None:
            with run.rec.step("start-test-firmware") as d:
                link.reset_and_run()
                if hardened:
                    # The first reset since UICR.APPROTECT = HwDisabled: the bootloader must have
                    # reopened the port (APPROTECT.DISABLE), or the rest of the line cannot reach it.
                    if link.locked_now():
                        raise DeviceError(
                            "hardened APPROTECT re-locked the debug port at reset although UICR.APPROTECT is "
                            "HwDisabled: the bootloader did not open it (Device OS bootloaders before 6.0.0 do not)"
                        )
                    d["approtect_after_reset"] = "open (HwDisabled, opened by the bootloader)"
                serial = stack.enter_context(open_console(device_id, timeout=job.settle_timeout))
                d["port"] = serial.port
                d.update(run.greet(serial))
        if serial is not None and run.needs_setup_done():
            run.mark_setup_done()
        run.run_tests(serial=serial, swd=link)
        if serial is not None:
            serial.__exit__(None, None, None)
    if test_fw is not None:
        final = run.final_images()
        with run.rec.step("flash-final") as d:
            link.halt()
            t0 = time.monotonic()
            _close_gate(run, link, d)
            report = link.program(
                final,
                verify=False,
                smart=policy.smart,
                erase=EraseStrategy.SECTOR,
                progress=run.rec.progress("flash-final"),
            )
            run.hardware_s += time.monotonic() - t0
            d.update(report_details(report))
        run.record_flash([job.firmware.product])
        # Always: the proof that follows takes the product's bytes from what this step proved.
        _swd_verify(run, link, final, name="verify-final")
        # Device OS as verified before the tests (not the factory-test image it replaced), the product now.
        verified_os = gate.without_pages(job.firmware.device_os_images) if verified else []
        _swd_boot_check(run, link, [*verified_os, *final], name="boot-proof-final", product=True)
        _open_gate(run, link, name="enable-boot-final", behind_product=True)
    _swd_finish(run, link)
    if profile.lock_debug_port:
        _swd_lock(run, link)
    run.register_and_label()


def _with_base_image(run: DeviceRun, link: SwdLink, images: list[FlashImage], d: dict[str, object]) -> list[FlashImage]:
    """The set to program: on a part without an MBR, the profile's base image MBR goes first.

    A part that has an MBR keeps it (an erase-all saves and restores it with the UICR); a blank one
    has nothing to keep, so the base image is written instead. Without a base image nothing is
    added, and the boot proof will say the part cannot boot.
    """
    base = run.job.firmware.base
    if base is None or base.mbr is None:
        return images
    why = mbr_problem(link.read_memory(0, NRF_PAGE_SIZE))
    if why is None:
        d["base_image"] = "not needed: the part has an MBR (kept)"
        return images
    d["base_image"] = f"MBR page written ({why})"
    return [FlashImage(0, base.mbr, "MBR (base image)"), *images]


def _write_uicr(run: DeviceRun, link: SwdLink, hardened: bool, d: dict[str, object]) -> None:
    """UICR words the part lacks: the base image's (NRFFW[0], NRFFW[1], ...) and, on a hardened part,
    UICR.APPROTECT = HwDisabled so the port stays debuggable for the rest of the line.

    Only erased words are written (the NVMC turns bits 1 to 0); a word that already holds another
    value is left alone and, for the base image's words, fails the device: only an erase-all can
    change it. APPROTECT is never taken from a base image on a build-code-D part, where 0x5A locks.
    """
    wanted: dict[int, int] = {}
    base = run.job.firmware.base
    if base is not None:
        wanted.update({a: v for a, v in base.uicr.items() if a != NRF_UICR_APPROTECT})
    written: dict[str, str] = {}
    for address, value in sorted(wanted.items()):
        have = link.read32(address)
        if have == value:
            continue
        if have != 0xFFFFFFFF:
            raise DeviceError(
                f"UICR word 0x{address:08X} holds 0x{have:08X}, the base image needs 0x{value:08X}; "
                "only an erase-all can change it"
            )
        link.write_uicr(address, value)
        written[f"0x{address:08X}"] = f"0x{value:08X}"
    if hardened:
        pall = link.read32(NRF_UICR_APPROTECT) & 0xFF
        if pall == APPROTECT_PALL_DISABLED:
            link.write_uicr(NRF_UICR_APPROTECT, UICR_APPROTECT_HW_DISABLED)
            written[f"0x{NRF_UICR_APPROTECT:08X}"] = f"0x{UICR_APPROTECT_HW_DISABLED:08X}"
        elif pall != APPROTECT_PALL_HW_DISABLED:
            raise DeviceError(f"UICR.APPROTECT is 0x{pall:02X} on a hardened part: the port locks at the next reset")
        d["approtect"] = "HwDisabled (0x5A): debuggable after reset while the bootloader opens it"
    if written:
        d["uicr_written"] = written


def _swd_verify(run: DeviceRun, link: SwdLink, images: list[FlashImage], name: str = "verify") -> None:
    with run.rec.step(name) as d:
        t0 = time.monotonic()
        link.verify(images, progress=run.rec.progress(name))
        run.hardware_s += time.monotonic() - t0
        d["bytes"] = sum(len(i.data) for i in images)


def _swd_boot_check(run: DeviceRun, link: SwdLink, verified: list[FlashImage], *, name: str, product: bool) -> None:
    """Prove the device will boot before it may end its run: MBR, UICR.NRFFW[0], bootloader, modules;
    and that the user part Device OS would run is exactly the one written: the factory-test
    firmware before the tests, the product (with no factory-test image left) before a pass.

    Bytes the ``verify`` steps just proved equal to the images are taken from the images (reading
    the whole module set back a second time over SWD would prove nothing new); the boot gate pages
    are taken as the gate will be written (the next step writes and verifies them); the MBR page,
    the UICR and everything else come from the device.
    """
    base = run.job.firmware.base
    fw = run.job.firmware
    runs, what = (fw.product, "product") if product or fw.test is None else (fw.test, "factory-test firmware")
    with run.rec.step(name) as d:
        t0 = time.monotonic()
        read = overlay_reader([*verified, *run.gate.open_images], link.read_memory)
        platform_id = run.job.profile.platform.id
        problems = boot_problems(read, platform_id, expected_mbr=base.mbr if base is not None else None)
        verdict = "would not boot: "
        if not problems:
            left = fw.test.image if product and fw.test is not None else None
            problems = product_problems(read, platform_id, runs.image, left, what=what)
            verdict = f"would not run the {what}: "
        run.hardware_s += time.monotonic() - t0
        if problems:
            d["problems"] = problems
            raise DeviceError(verdict + "; ".join(problems))
        d["boots"] = "MBR, UICR.NRFFW[0] -> bootloader, modules and dependencies checked"
        d["runs"] = f"{runs.image.label}, SHA-256 {runs.sha256[:12]}…" + (
            "; no factory-test image left" if what == "product" else "")


def _close_gate(run: DeviceRun, link: SwdLink, d: dict[str, object]) -> None:
    """Erase the system part's first page and check it: the bootloader then stays in DFU."""
    gate = run.gate
    link.program(gate.closed_images, verify=False, smart=True, erase=EraseStrategy.SECTOR)
    left = [a for a in gate.addresses if link.crc32(a, NRF_PAGE_SIZE) != BLANK_PAGE_CRC]
    if left:
        raise DeviceError(f"the boot gate page at 0x{left[0]:05X} (system part) did not erase: Device OS could start")
    run.power = PowerState.CLOSED
    d["boot_gate"] = f"closed ({gate.describe()} erased): the bootloader stays in DFU until the run opens it"


def _open_gate(run: DeviceRun, link: SwdLink, *, name: str, behind_product: bool) -> None:
    """Write the system part's first page back, and verify it: Device OS may start from now on."""
    gate = run.gate
    with run.rec.step(name) as d:
        if behind_product:
            run.power = PowerState.OPENING
        t0 = time.monotonic()
        link.program(gate.open_images, verify=False, smart=True, erase=EraseStrategy.SECTOR)
        link.verify(gate.open_images)
        run.hardware_s += time.monotonic() - t0
        run.power = PowerState.PRODUCT if behind_product else PowerState.TEST
        d["boot_gate"] = f"open ({gate.describe()} written and verified): " + (
            "the product firmware runs at the next reset" if behind_product
            else "the MANUAL-mode factory-test firmware runs at the next reset"
        )


def _recover_gate(run: DeviceRun, link: SwdLink) -> None:
    """After a failure with the product behind an open gate: close it again, if the device still answers."""
    try:
        if not link.is_open or link.is_locked():
            return
        link.program(run.gate.closed_images, verify=False, smart=True, erase=EraseStrategy.SECTOR)
        if all(link.crc32(a, NRF_PAGE_SIZE) == BLANK_PAGE_CRC for a in run.gate.addresses):
            run.power = PowerState.CLOSED
            run.made_safe = "the station disabled Device OS again: the device stays in DFU until it is re-flashed"
    except StationError:
        pass  # gone or locked: the attempt says the device is unsafe to power


def _swd_finish(run: DeviceRun, link: SwdLink) -> None:
    """The checked end state: halted (default), held in reset, or — only with the override — running."""
    finish = run.finish_action
    with run.rec.step("secure-state") as d:
        if finish == FINISH_RUN_PRODUCT:
            run.released = True
            link.reset_and_run()
            d["state"] = "running product firmware (override allow-first-connect)"
            return
        if finish == "hold-reset":
            link.hold_in_reset()
            if not link.is_reset_held():
                raise TransportError("the probe did not keep the device in reset")
            run.held_in_reset = True
            d["state"] = "held in reset (reset vector catch armed)"
            return
        link.halt()
        if not link.is_halted():
            raise TransportError("the core did not stay halted; the device could reach the cloud")
        d["state"] = "halted"


def _swd_lock(run: DeviceRun, link: SwdLink) -> None:
    """The profile's readback protection, as the last thing done to the device.

    Every step that touches the device has passed and is in the registry; registration (which does
    not touch it) follows, so a device whose lock cannot be proven fails and is never registered.
    The proof is the CTRL-AP's APPROTECTSTATUS after a reset that runs no firmware. Only ERASEALL
    (``allow_recover`` + an engineer's confirmation, audited) opens such a part again.
    """
    with run.rec.step("lock-debug-port") as d:
        if not link.lock_and_prove():
            raise DeviceError("the debug port is still open after UICR.APPROTECT = Enabled and a reset")
        d["approtect"] = "Enabled (UICR.APPROTECT = 0x00)"
        d["proof"] = "CTRL-AP APPROTECTSTATUS = locked after a reset (vector catch: no firmware ran)"
        d["locked"] = True


def _swd_secure(run: DeviceRun, link: SwdLink) -> None:
    """On any exit path, make sure the core is not left running product firmware, and that a run
    which did not pass leaves no product behind an open boot gate."""
    if run.busy:
        return  # another live attempt owns the device (halting it would break that run)
    if run.power.would_connect and not run.registered and not run.released:
        _recover_gate(run, link)
    if run.released or run.held_in_reset:
        # deliberately running (override recorded), or held in reset with vector catch armed
        return
    try:
        if link.is_open and not link.is_locked():
            link.halt()
    except StationError:
        pass  # unplugged (no power: it cannot connect either) or unreachable; the step already failed
