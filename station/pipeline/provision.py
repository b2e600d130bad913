"""Provision one device on one slot: identify → registry check → flash → verify → tests →
final firmware → no-connect state → register offline (+ cloud outbox) → label.

Both transports share the bookkeeping (``AttemptRecorder``) and the tail of the run
(:func:`_register_and_label`); they differ in how the device is reached. Whatever happens — pass,
failure, cancel, unplug — the device is left where it cannot make its first cloud connection
(halted over SWD, in DFU over USB, or running the factory-test firmware in MANUAL mode), and the
pipeline *checks* that instead of assuming it (``secure-state`` step).
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from typing import Any

from station.domain import ModuleFunction, Outcome, Transport
from station.errors import (
    Cancelled,
    DeviceError,
    DeviceGone,
    DeviceLocked,
    IdentityMismatch,
    RegistryConflict,
    StationError,
    TransportError,
)
from station.ftest.context import Measurement, TestContext
from station.ftest.runner import run_plan
from station.hw.interfaces import EraseStrategy, FlashImage, FlashReport, SerialConsole
from station.pipeline.attempt import AttemptRecorder, StepFailed
from station.pipeline.firmware_set import ResolvedModule
from station.pipeline.job import Job, SlotResult
from station.store.records import MeasurementRecord

LOG = logging.getLogger(__name__)

FINISH_RUN_PRODUCT = "run-product"
OVERRIDE_FIRST_CONNECT = "allow-first-connect"


def _measurement_record(m: Measurement) -> MeasurementRecord:
    return MeasurementRecord(
        step=m.step,
        name=m.name,
        passed=m.passed,
        value=m.value,
        text=m.text if m.text is not None else m.reason,
        unit=m.unit,
        low=m.low,
        high=m.high,
        expected=m.expected,
        duration_s=m.duration_s,
        try_number=m.try_number,
    )


def _report_details(report: FlashReport) -> dict[str, Any]:
    return {
        "bytes_written": report.bytes_written,
        "bytes_skipped": report.bytes_skipped,
        "erase_s": round(report.erase_s, 4),
        "program_s": round(report.program_s, 4),
        "verify_s": round(report.verify_s, 4),
        "erase_strategy": report.erase_strategy,
        **report.details,
    }


class _Run:
    """State of one attempt while it runs; one instance per device per slot."""

    def __init__(self, job: Job, slot: str, transport: Transport) -> None:
        self.job = job
        self.transport = transport
        self.rec = AttemptRecorder(
            job.registry,
            slot=slot,
            station=job.station,
            operator=job.operator,
            transport=transport.value,
            sink=job.sink,
            cancel=job.cancel,
        )
        self.result = SlotResult(slot=slot, transport=transport.value, device_id=None, outcome=Outcome.RUNNING)
        self.overrides_used: list[str] = []
        self.flashed: list[ResolvedModule] = []
        self.serial_number: str | None = None
        self.imei: str | None = None
        self.iccid: str | None = None
        self.hardware_s = 0.0
        self.released = False  # True once the run deliberately let the product firmware run

    @property
    def finish_action(self) -> str:
        """How the device is left: the profile's choice, else halted (SWD) / DFU (USB).

        Profile validation refuses ``run-product`` without the named override, so reaching it
        here means the override is set, and it is recorded on the attempt.
        """
        action = str(getattr(self.job.profile, "finish", None) or "")
        if action == FINISH_RUN_PRODUCT:
            return action
        # The profile's transport is a preference: its no-connect end state maps to the one the
        # run's transport can produce (a USB-only bench cannot halt a core; SWD has no DFU).
        if self.transport is Transport.USB:
            return "dfu"
        return action if action in ("halt", "hold-reset") else "halt"

    # ------------------------------------------------------------------ shared steps
    def begin(self, device_id: str) -> None:
        """Registry check, then open the attempt. A device of another product is refused here."""
        job = self.job
        self.result.device_id = device_id
        self.rec.device_id = device_id
        if self.finish_action == FINISH_RUN_PRODUCT:
            self.overrides_used.append(OVERRIDE_FIRST_CONNECT)
        status = job.registry.device_status(device_id)
        self.rec.start(
            device_id=device_id,
            platform=job.profile.platform.name,
            lot_id=job.lot_id,
            profile_id=job.profile_id,
            overrides=self.overrides_used,
        )
        with self.rec.step("registry-check") as d:
            d["attempts_before"] = status.attempts
            if status.registered_product_id is not None and status.registered_product_id != job.product_id:
                raise RegistryConflict(
                    f"device {device_id} is already registered to another product "
                    f"(product #{status.registered_product_id}); it cannot join {job.profile.product}"
                )
            if (
                status.registered_product_id == job.product_id
                and status.last_outcome == Outcome.PASSED
                and job.profile.reprovision == "skip"
            ):
                d["skipped"] = True
                raise _AlreadyDone(f"device {device_id} is already provisioned for {job.profile.product}")

    def greet(self, serial: SerialConsole) -> dict[str, Any]:
        """First words with the factory-test firmware: it runs, it is this device, its serial number.

        The serial number lives in the device's OTP; the test firmware is what can read it.
        """
        reply = serial.call("hello", timeout=5.0)
        if not reply.ok:
            raise TransportError(f"the factory-test firmware did not greet: {reply.error}")
        said = str(reply.raw.get("device_id") or "")
        if said and said != self.result.device_id:
            raise IdentityMismatch(f"the test firmware reports device {said}, expected {self.result.device_id}")
        sn = reply.raw.get("serial_number")
        if isinstance(sn, str) and sn.strip():
            self.serial_number = sn.strip()
        return {"app": reply.raw.get("app"), "serial_number": self.serial_number}

    def record_flash(self, modules: list[ResolvedModule]) -> None:
        assert self.rec.attempt_id is not None
        for m in modules:
            self.job.registry.record_flash(
                self.rec.attempt_id,
                module_sha256=m.sha256,
                function=int(m.info.function),
                index=m.info.index,
                version=m.info.version,
                address=m.image.address,
                role=m.ref.role,
            )
        self.flashed.extend(modules)

    def run_tests(
        self, *, serial: SerialConsole | None, swd: Any = None, usb: Any = None
    ) -> None:
        job = self.job
        plan = job.profile.tests
        with self.rec.step("functional-tests") as d:
            ctx = TestContext(
                device_id=self.result.device_id or "",
                platform=job.profile.platform,
                profile=job.profile,
                serial=serial,
                swd=swd,
                usb=usb,
                ask_operator=job.ask_operator,
                cancel=job.cancel,
            )
            attempt_id = self.rec.attempt_id
            assert attempt_id is not None

            def on_measurement(m: Measurement) -> None:
                job.registry.record_measurement(attempt_id, _measurement_record(m))
                if m.step and m.text and m.name in ("serial_number", "imei", "iccid"):
                    setattr(self, m.name, m.text)

            t0 = time.monotonic()
            result = run_plan(plan, ctx, on_measurement=on_measurement)
            self.hardware_s += time.monotonic() - t0
            d["measurements"] = len(result.measurements)
            d["passed"] = result.passed
            if result.cancelled:
                raise Cancelled(result.reason or "cancelled by the operator")
            if not result.passed:
                raise _TestsFailed(result.failing_step or "functional-tests", result.reason or "a test failed")

    def register_and_label(self) -> None:
        job = self.job
        device_id = self.result.device_id
        assert device_id is not None and self.rec.attempt_id is not None
        with self.rec.step("register") as d:
            job.registry.record_identity(
                device_id,
                serial_number=self.serial_number,
                imei=self.imei,
                iccid=self.iccid,
                device_os_version=job.profile.device_os_version,
                product_firmware_version=str(job.firmware.product.info.version),
            )
            job.registry.register_passed(
                self.rec.attempt_id, product_id=job.product_id, lot_id=job.lot_id, cloud=job.cloud_targets
            )
            d["lot"] = job.lot_name
        if job.labels_dir is not None:
            self._label()

    def _label(self) -> None:
        from station.labels.render import LabelData, write_labels

        job = self.job
        device_id = self.result.device_id
        assert device_id is not None
        try:
            with self.rec.step("label") as d:
                data = LabelData(device_id=device_id, serial_number=self.serial_number, product=job.profile.product)
                assert job.labels_dir is not None
                paths = write_labels(data, job.profile.label, job.labels_dir / job.lot_name)
                for p in paths:
                    job.registry.record_label(device_id, self.rec.attempt_id, path=str(p), fmt=p.suffix.lstrip("."))
                d["files"] = [str(p) for p in paths]
                self.result.labels = [str(p) for p in paths]
        except StepFailed:
            # The device is registered; a label that failed to print is reprinted later, not a failure.
            LOG.warning("label for %s failed; reprint with `station label`", device_id)

    def close(self, outcome: str, failing_step: str | None, reason: str | None) -> SlotResult:
        if outcome != Outcome.PASSED:
            self.rec.finish(outcome, failing_step, reason)
        else:
            self.rec.emit("attempt_finished", outcome=outcome)
        r = self.result
        r.outcome, r.failing_step, r.reason = outcome, failing_step, reason
        r.attempt_id = self.rec.attempt_id
        r.duration_s = time.monotonic() - self.rec.started
        r.hardware_s = self.hardware_s
        r.steps = [(s.name, s.outcome, s.duration_s) for s in self.rec.steps]
        r.serial_number = self.serial_number
        return r


class _AlreadyDone(StationError):
    """The registry says this device is done and the profile says skip it."""


class _TestsFailed(DeviceError):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step


def _finish_run(run: _Run, body: Any) -> SlotResult:
    """Run ``body`` and turn how it ended into the attempt's outcome."""
    try:
        body()
    except StepFailed as f:
        cause = f.cause
        if isinstance(cause, _AlreadyDone):
            return run.close(Outcome.SKIPPED, None, str(cause))
        if isinstance(cause, Cancelled):
            return run.close(Outcome.CANCELLED, f.step, str(cause))
        step = cause.step if isinstance(cause, _TestsFailed) else f.step
        return run.close(Outcome.FAILED, step, str(cause))
    except Cancelled as exc:
        return run.close(Outcome.CANCELLED, None, str(exc))
    except Exception as exc:
        LOG.exception("bug while provisioning on slot %s", run.result.slot)
        return run.close(Outcome.FAILED, None, f"internal error: {exc!r}")
    return run.close(Outcome.PASSED, None, None)


# ====================================================================== SWD
def provision_swd(job: Job, slot: str, probe_uid: str) -> SlotResult:
    """Provision the device behind one probe. Never raises for device problems: see the result."""
    from station.hw.serial import open_console
    from station.hw.swd import PyocdSwdLink

    run = _Run(job, slot, Transport.SWD)
    link = PyocdSwdLink(probe_uid, target=job.profile.platform.mcu)

    def body() -> None:
        with ExitStack() as stack:
            with run.rec.step("connect") as d:
                stack.enter_context(link)
                d["probe"] = probe_uid
            try:
                _swd_body(run, link, stack, open_console)
            finally:
                _swd_secure(run, link)

    return _finish_run(run, body)


def _swd_body(run: _Run, link: Any, stack: ExitStack, open_console: Any) -> None:
    job = run.job
    profile = job.profile
    policy = profile.flash
    with run.rec.step("identify") as d:
        if link.is_locked():
            d["locked"] = True
            if not (policy.allow_recover and job.recover_confirmed_by):
                raise DeviceLocked(
                    "the chip is locked (APPROTECT)"
                    + ("" if policy.allow_recover else "; the profile does not allow recovering it")
                    + ("" if job.recover_confirmed_by else "; an engineer must confirm the recovery")
                )
            job.registry.audit(
                "recover-locked-chip",
                operator=job.recover_confirmed_by,
                station=job.station,
                details={"slot": run.result.slot, "probe": link.probe_uid},
            )
            link.recover()
            d["recovered_by"] = job.recover_confirmed_by
        device_id = link.read_device_id()
        d["device_id"] = device_id
    run.begin(device_id)

    first_user = job.firmware.test or job.firmware.product
    images = [*job.firmware.device_os_images, first_user.image]
    with run.rec.step("flash") as d:
        job.firmware.reverify()
        t0 = time.monotonic()
        report = link.program(
            images,
            verify=False,
            smart=policy.smart,
            erase=EraseStrategy(policy.erase),
            progress=run.rec.progress("flash"),
        )
        run.hardware_s += time.monotonic() - t0
        d.update(_report_details(report))
        d["modules"] = [m.image.label for m in (*job.firmware.device_os, first_user)]
    run.record_flash([*job.firmware.device_os, first_user])
    if policy.verify:
        _swd_verify(run, link, images)

    if profile.tests.steps:
        serial = None
        if job.firmware.test is not None:
            with run.rec.step("start-test-firmware") as d:
                link.reset_and_run()
                serial = stack.enter_context(open_console(device_id, timeout=job.settle_timeout))
                d["port"] = serial.port
                d.update(run.greet(serial))
        run.run_tests(serial=serial, swd=link)
        if serial is not None:
            serial.__exit__(None, None, None)
        if job.firmware.test is not None:
            with run.rec.step("flash-final") as d:
                link.halt()
                t0 = time.monotonic()
                report = link.program(
                    [job.firmware.product.image],
                    verify=False,
                    smart=policy.smart,
                    erase=EraseStrategy.SECTOR,
                    progress=run.rec.progress("flash-final"),
                )
                run.hardware_s += time.monotonic() - t0
                d.update(_report_details(report))
            run.record_flash([job.firmware.product])
            if policy.verify:
                _swd_verify(run, link, [job.firmware.product.image], name="verify-final")
    _swd_finish(run, link)
    run.register_and_label()


def _swd_verify(run: _Run, link: Any, images: list[FlashImage], name: str = "verify") -> None:
    with run.rec.step(name) as d:
        t0 = time.monotonic()
        link.verify(images, progress=run.rec.progress(name))
        run.hardware_s += time.monotonic() - t0
        d["bytes"] = sum(len(i.data) for i in images)


def _swd_finish(run: _Run, link: Any) -> None:
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
            d["state"] = "held in reset"
            return
        link.halt()
        if not link.is_halted():
            raise TransportError("the core did not stay halted; the device could reach the cloud")
        d["state"] = "halted"


def _swd_secure(run: _Run, link: Any) -> None:
    """On any exit path, make sure the core is not left running product firmware."""
    if run.released:
        return  # the secure-state step let the product firmware run on purpose (override recorded)
    try:
        if link._session is not None and not link.is_locked():
            link.halt()
    except (DeviceGone, StationError):
        pass  # an unplugged device has no power: it cannot connect either


# ====================================================================== USB
def _usb_writable_modules(run: _Run, dfu: Any, details: dict[str, Any]) -> list[ResolvedModule]:
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
    run = _Run(job, slot, Transport.USB)
    run.result.device_id = device_id  # over USB the device is known by its ID before anything is read
    return _finish_run(run, lambda: _usb_body(run, device_id))


def _usb_body(run: _Run, device_id: str) -> None:
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

    first_user = job.firmware.test or job.firmware.product
    with run.rec.step("flash") as d:
        job.firmware.reverify()
        t0 = time.monotonic()
        with open_dfu(device_id) as dfu:
            modules = _usb_writable_modules(run, dfu, d)
            images = [m.image for m in modules] + [first_user.image]
            report = dfu.program(images, verify=policy.verify, progress=run.rec.progress("flash"))
        run.hardware_s += time.monotonic() - t0
        d.update(_report_details(report))
        d["modules"] = [m.image.label for m in (*modules, first_user)]
    run.record_flash([*modules, first_user])

    if profile.tests.steps:
        if job.firmware.test is None:
            raise StepFailed(
                "functional-tests",
                DeviceError("over USB the tests need a factory-test firmware: running the product firmware would connect"),
            )
        with run.rec.step("start-test-firmware") as d:
            with open_dfu(device_id) as dfu:
                dfu.leave()
        with ExitStack() as stack:
            with run.rec.step("open-console") as d:
                serial = stack.enter_context(open_console(device_id, timeout=job.settle_timeout))
                ctl = stack.enter_context(open_control(device_id))
                d["port"] = serial.port
                d.update(run.greet(serial))
            run.run_tests(serial=serial, usb=ctl)
        with run.rec.step("flash-final") as d:
            enter_dfu(device_id, timeout=job.settle_timeout)
            t0 = time.monotonic()
            with open_dfu(device_id) as dfu:
                report = dfu.program(
                    [job.firmware.product.image], verify=policy.verify, progress=run.rec.progress("flash-final")
                )
            run.hardware_s += time.monotonic() - t0
            d.update(_report_details(report))
        run.record_flash([job.firmware.product])

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
