"""One provisioning attempt while it runs: the steps both transports share, and how a run ends.

``DeviceRun`` holds an attempt's state (recorder, flashed modules, identity read from the device)
and the transport-independent steps: the registry check, the functional tests, registration with
the cloud outbox and labels. :mod:`station.pipeline.swd_flow` and :mod:`station.pipeline.usb_flow`
reach the device; :func:`finish_run` turns however the body ended into the attempt's outcome.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from station.domain import (
    FAULT_DEVICE_GONE,
    FAULT_INTERNAL,
    FAULT_PROBE_GONE,
    FAULT_REGISTRY,
    FlashImage,
    Outcome,
    Transport,
    platform_by_id,
)
from station.errors import (
    AlreadyDone,
    Cancelled,
    DeviceBusy,
    DeviceError,
    DeviceGone,
    IdentityMismatch,
    ProbeGone,
    RegistryConflict,
    RegistryUnavailable,
    StationError,
    StepFailed,
    TestsFailed,
    TransportError,
)
from station.firmware.boot_check import leftover_pages
from station.ftest.context import Measurement, TestContext
from station.ftest.runner import run_plan
from station.hw.interfaces import FlashReport, SerialConsole
from station.paths import path_component
from station.pipeline.attempt import AttemptRecorder
from station.pipeline.context import SlotContext
from station.pipeline.events import EventKind
from station.pipeline.firmware_set import ResolvedModule
from station.pipeline.job import Job, SlotResult
from station.pipeline.power import PowerState, unsafe_reason
from station.store.leases import UNAVAILABLE_REASON
from station.store.records import DeviceIdentity, FlashRecord, MeasurementRecord

LOG = logging.getLogger(__name__)

FINISH_RUN_PRODUCT = "run-product"

OVERRIDE_FIRST_CONNECT = "allow-first-connect"
#: how a failed attempt's reason starts when the unit left mid-run (``device-gone``)
UNIT_GONE_REASON = "the unit was unplugged or taken out"
#: ... and when no unit answered at connect (the fixture is empty, or the unit has no contact)
NO_UNIT_REASON = "no unit answered in the fixture: none seated, or no contact"


def measurement_record(m: Measurement) -> MeasurementRecord:
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


def report_details(report: FlashReport) -> dict[str, Any]:
    return {
        "bytes_written": report.bytes_written,
        "bytes_skipped": report.bytes_skipped,
        "erase_s": round(report.erase_s, 4),
        "program_s": round(report.program_s, 4),
        "verify_s": round(report.verify_s, 4),
        "erase_strategy": report.erase_strategy,
        **report.details,
    }


class DeviceRun:
    """State of one attempt while it runs; one instance per device per slot."""

    def __init__(self, job: Job, slot: str, transport: Transport, ctx: SlotContext | None = None) -> None:
        self.job = job
        self.transport = transport
        self.ctx = ctx or SlotContext.solo(job, slot)
        self.cancel = self.ctx.cancel
        self.recover_confirmed_by = self.ctx.recover_confirmed_by or job.recover_confirmed_by
        self.rec = AttemptRecorder(
            job.registry,
            slot=slot,
            station=job.station,
            operator=job.operator,
            transport=transport.value,
            sink=self.ctx.events(job),
            cancel=self.cancel,
        )
        self.result = SlotResult(slot=slot, transport=transport.value, device_id=None, outcome=Outcome.RUNNING)
        self.overrides_used: list[str] = []
        self.serial_number: str | None = None
        self.imei: str | None = None
        self.iccid: str | None = None
        self.hardware_s = 0.0
        self.released = False  # True once the run deliberately let the product firmware run
        self.claimed = False  # this run holds the device ID in the run's claims (DeviceClaims)
        self.registered = False  # register_passed committed: the attempt is closed as passed
        self.held_in_reset = False  # the secure-state step holds nRESET (SWD ``hold-reset``)
        self.busy = False  # another live attempt holds the device: this run must not touch it
        #: what a power-up would make the device do now (the boot gate, station.firmware.boot_gate)
        self.power = PowerState.AS_FOUND
        #: the run's boot gate, once the flash step has found it (a BootGate)
        self.gate: Any = None
        #: how the station made the device safe after a failure (closed the gate again), for the reason
        self.made_safe: str | None = None

    @property
    def finish_action(self) -> str:
        """How the device is left: the profile's choice, else halted (SWD) / DFU (USB).

        Profile validation refuses ``run-product`` without the named override, so reaching it
        here means the override is set, and it is recorded on the attempt.
        """
        action = self.job.profile.finish
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
        other = self.ctx.claims.claim(device_id, self.result.slot)
        if other is not None:
            # Not a registry question: refuse before an attempt could touch the other slot's record.
            with self.rec.step("registry-check"):
                raise DeviceError(f"slot {other} is already provisioning device {device_id}: two boards share this ID")
        self.claimed = True
        if self.finish_action == FINISH_RUN_PRODUCT:
            self.overrides_used.append(OVERRIDE_FIRST_CONNECT)
        try:
            status = self.rec.start(
                device_id=device_id,
                platform=job.profile.platform.name,
                lot_id=job.lot_id,
                profile_id=job.profile_id,
                overrides=self.overrides_used,
            )
        except DeviceBusy as exc:
            # Another slot, process, transport or PC has a live attempt on it: hands off the board.
            self.busy = True
            with self.rec.step("registry-check"):
                raise exc
        with self.rec.step("registry-check") as d:
            d["attempts_before"] = status.attempts
            if status.registered_product_id is not None and status.registered_product_id != job.product_id:
                where = next(
                    (f"{lot.product!r} (lot {lot.name})" for lot in job.registry.lots()
                     if lot.id == status.registered_lot_id),
                    f"product #{status.registered_product_id}",
                )
                raise RegistryConflict(
                    f"device {device_id} is already registered to another product, {where}; "
                    f"it cannot join {job.profile.product!r}"
                )
            if (
                status.registered_product_id == job.product_id
                and status.last_outcome == Outcome.PASSED
                and job.profile.reprovision == "skip"
            ):
                d["skipped"] = True
                message = f"device {device_id} is already provisioned for {job.profile.product}"
                record = job.registry.device_record(device_id)
                if record is not None and record.label_missing:
                    # Stopped between registration and label: the re-run says so, and prints it.
                    d["label_missing"] = True
                    printed = self._reprint_missing_label(record) if job.labels_dir is not None else []
                    d["labels_printed"] = printed
                    message += (f"; its missing label was printed: {', '.join(printed)}" if printed else
                                "; it has NO LABEL: print it with `station label` before it leaves the line")
                    LOG.warning("%s", message)
                raise AlreadyDone(message, device_id=device_id)

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
        self._check_usb_platform()
        return {"app": reply.raw.get("app"), "serial_number": self.serial_number}

    def needs_setup_done(self) -> bool:
        """Device OS before 4.0 boots to listening mode unless the DCT says setup is done."""
        major = self.job.profile.device_os_version.split(".", 1)[0]
        return major.isdigit() and int(major) < 4

    def mark_setup_done(self) -> None:
        """Set the "setup done" flag while the test firmware runs (control request 73), read it back."""
        from station.hw.usb import open_control

        device_id = self.result.device_id
        assert device_id is not None
        with self.rec.step("setup-done") as d, open_control(device_id) as ctl:
            ctl.set_setup_done(True)
            if not ctl.is_setup_done():
                raise TransportError("the device did not keep the setup-done flag")
            d["device_os"] = self.job.profile.device_os_version

    def _check_usb_platform(self) -> None:
        """The USB product ID says which platform the board is; SWD cannot (every Gen3 MCU is the
        same nRF52840). A mis-stuffed board is caught here, before its product firmware is written."""
        from station.hw.usb import list_usb_devices

        want = self.job.profile.platform
        for dev in list_usb_devices():
            if dev.device_id == self.result.device_id and not dev.error and dev.platform_id != want.id:
                got = platform_by_id(dev.platform_id)
                raise DeviceError(
                    f"the device reports platform {got.name if got else '?'} ({dev.platform_id}) over USB; "
                    f"the profile is for {want.name} ({want.id})"
                )

    def final_images(self) -> list[FlashImage]:
        """What the final flash writes: the product, and erased pages over whatever of the
        factory-test image it does not cover (no factory-test bytes may be left on a device that passes)."""
        fw = self.job.firmware
        out = [fw.product.image]
        if fw.test is not None:
            lo, hi = leftover_pages(fw.product.image, fw.test.image)
            if lo < hi:
                out.append(FlashImage(lo, b"\xff" * (hi - lo), "factory-test remnant (erased)"))
        return out

    def record_flash(self, modules: list[ResolvedModule]) -> None:
        """What was just written to the device: one registry transaction (a device state change)."""
        assert self.rec.attempt_id is not None
        self.job.registry.record_flashes(self.rec.attempt_id, [
            FlashRecord(module_sha256=m.sha256, function=int(m.info.function), index=m.info.index,
                        version=m.info.version, address=m.image.address, role=m.ref.role)
            for m in modules])

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
                ask_operator=self.ctx.asker(job),
                cancel=self.cancel,
            )
            attempt_id = self.rec.attempt_id
            assert attempt_id is not None

            def on_measurement(m: Measurement) -> None:
                job.registry.record_measurement(attempt_id, measurement_record(m))
                if m.step and m.text and m.name in ("serial_number", "imei", "iccid"):
                    setattr(self, m.name, m.text)
                self.rec.emit(EventKind.MEASUREMENT, step=m.step, outcome="passed" if m.passed else "failed",
                              message=m.reason or "", data=asdict(m))

            titles = plan.titles()
            d["titles"] = titles  # recorded with the step: the record shows what the operator saw

            def on_step(name: str, status: str) -> None:
                self.rec.emit(EventKind.TEST_STEP, step=name, outcome=None if status == "started" else status,
                              data={"status": status, "title": titles.get(name, name)})

            t0 = time.monotonic()
            result = run_plan(plan, ctx, on_measurement=on_measurement, on_step=on_step)
            self.hardware_s += time.monotonic() - t0
            d["measurements"] = len(result.measurements)
            d["passed"] = result.passed
            if result.cancelled:
                raise Cancelled(result.reason or "cancelled by the operator")
            if result.device_gone:
                # The link went mid-test: the unit was not shown bad, the station could not finish.
                raise DeviceGone(result.reason or f"{result.failing_step}: the device disappeared")
            if not result.passed:
                raise TestsFailed(result.failing_step or "functional-tests", result.reason or "a test failed")

    def register_and_label(self) -> None:
        job = self.job
        device_id = self.result.device_id
        assert device_id is not None and self.rec.attempt_id is not None
        with self.rec.step("register") as d:
            if self.ctx.claims.is_tainted(device_id):
                raise DeviceError(
                    f"another board reported device ID {device_id} during this run; neither is registered"
                )
            # Identity goes in with the binding and the outbox: a refused registration changes nothing.
            job.registry.register_passed(
                self.rec.attempt_id,
                product_id=job.product_id,
                lot_id=job.lot_id,
                cloud=job.cloud_targets,
                identity=DeviceIdentity(
                    serial_number=self.serial_number,
                    imei=self.imei,
                    iccid=self.iccid,
                    device_os_version=job.profile.device_os_version,
                    product_firmware_version=str(job.firmware.product.info.version),
                ),
            )
            self.registered = True
            d["lot"] = job.lot_name
        if job.labels_dir is not None:
            self._label()

    def _label(self) -> None:
        from station.labels.data import LabelData
        from station.labels.render import write_labels

        job = self.job
        device_id = self.result.device_id
        assert device_id is not None
        try:
            with self.rec.step("label") as d:
                data = LabelData(
                    device_id=device_id, serial_number=self.serial_number, product=job.profile.product,
                    platform=job.profile.platform.name, profile=job.profile.name, imei=self.imei,
                    iccid=self.iccid, lot=job.lot_name, date=time.strftime("%Y-%m-%d", time.gmtime()),
                )
                assert job.labels_dir is not None
                out_dir = job.labels_dir / path_component(job.lot_name)  # a lot name is never a path
                try:
                    paths = write_labels(data, job.profile.label, out_dir)
                except OSError as exc:  # full disk, read-only or missing directory
                    raise StationError(f"cannot write labels to {out_dir}: {exc.strerror or exc}") from exc
                for p in paths:
                    job.registry.record_label(device_id, self.rec.attempt_id, path=str(p), fmt=p.suffix.lstrip("."))
                d["files"] = [str(p) for p in paths]
                self.result.labels = [str(p) for p in paths]
        except StepFailed:
            # The device is registered; a label that failed to print is reprinted later, not a failure.
            LOG.warning("label for %s failed; reprint with `station label`", device_id)

    def _reprint_missing_label(self, record: Any) -> list[str]:
        """The label a registered device never got, from what the registry recorded at registration."""
        from station.labels.data import LabelData
        from station.labels.render import write_labels

        job = self.job
        assert job.labels_dir is not None
        data = LabelData(
            device_id=record.device_id, serial_number=record.serial_number, product=job.profile.product,
            platform=record.platform or job.profile.platform.name, profile=job.profile.name, imei=record.imei,
            iccid=record.iccid, lot=record.lot,
            date=f"{record.registered_at:%Y-%m-%d}" if record.registered_at else None,
        )
        out_dir = job.labels_dir / path_component(record.lot or job.lot_name)
        try:
            paths = write_labels(data, job.profile.label, out_dir)
        except OSError as exc:
            LOG.warning("cannot write the missing label of %s to %s: %s", record.device_id, out_dir, exc)
            return []
        for p in paths:
            job.registry.record_label(record.device_id, None, path=str(p), fmt=p.suffix.lstrip("."))
        return [str(p) for p in paths]

    def close(self, outcome: str, failing_step: str | None, reason: str | None,
              fault: str | None = None) -> SlotResult:
        """Record how the attempt ended. Never raises: a slot always gets its result back.

        ``fault`` says what went mid-run: for an ``error`` outcome which part of the station could
        not go on (:data:`FAULT_PROBE_GONE`, :data:`FAULT_REGISTRY`, :data:`FAULT_INTERNAL`), for a
        ``failed`` one that the unit left (:data:`FAULT_DEVICE_GONE`), so a front end can tell the
        operator what to do in words without parsing ``reason``.
        """
        if self.claimed and self.result.device_id:
            self.ctx.claims.release(self.result.device_id, self.result.slot)
        if self.registered and outcome != Outcome.PASSED:
            # Registration (and the outbox) committed; what failed afterwards cannot undo that.
            LOG.error("after registering %s: %s", self.result.device_id, reason)
            outcome, failing_step, reason = Outcome.PASSED, None, None
        if outcome != Outcome.PASSED and not self.released:
            if self.power.would_connect:
                # Lost before the gate could close again: whoever takes it from the fixture must know.
                reason = unsafe_reason(reason)
                LOG.error("slot %s: device %s %s", self.result.slot, self.result.device_id, reason)
            elif self.made_safe:
                reason = f"{reason} ({self.made_safe})" if reason else self.made_safe
        if outcome != Outcome.PASSED:
            stored = Outcome.FAILED if outcome == Outcome.ERROR else outcome  # attempts never store "error"
            try:
                self.rec.finish(stored, failing_step, reason,
                                fault if outcome in (Outcome.ERROR, Outcome.FAILED) else None)
            except StationError as exc:
                # The registry is unreachable: the attempt stays open and is closed as abandoned
                # by the next start of this station; the operator still sees the result now.
                LOG.error("could not record the end of the attempt on slot %s: %s", self.result.slot, exc)
        if self.rec.attempt_id is not None:
            try:
                self.job.registry.end_attempt(self.rec.attempt_id)  # what came after the last state change
            except StationError as exc:
                LOG.error("could not record the last steps of attempt %s: %s", self.rec.attempt_id, exc)
        r = self.result
        r.outcome, r.failing_step, r.reason = outcome, failing_step, reason
        r.failing_step_title = self.step_title(failing_step)
        r.fault = fault if outcome in (Outcome.ERROR, Outcome.FAILED) else None
        r.attempt_id = self.rec.attempt_id
        r.duration_s = time.monotonic() - self.rec.started
        r.hardware_s = self.hardware_s
        r.steps = [(s.name, s.outcome, s.duration_s) for s in self.rec.steps]
        r.serial_number = self.serial_number
        self.rec.emit(EventKind.ATTEMPT_FINISHED, outcome=outcome, step=failing_step, message=reason or "",
                      data={"result": r.to_dict(), "serial_number": r.serial_number, "attempt_id": r.attempt_id,
                            "station_fault": outcome == Outcome.ERROR,
                            "fault": r.fault})
        return r

    def step_title(self, name: str | None) -> str | None:
        """What an operator reads for step ``name``: a functional test's title from the profile,
        else the step catalogue's."""
        from station.pipeline.steps import BY_NAME

        if not name:
            return None
        tests = self.job.profile.tests.titles()
        if name in tests:
            return tests[name]
        return BY_NAME[name].title if name in BY_NAME else name

    def started(self, target: str) -> None:
        """``attempt_started``: before the first step, so a front end can show "connecting"."""
        from station.pipeline.steps import steps_for

        steps = steps_for(self.job.profile, self.transport, labels_dir=self.job.labels_dir)
        self.rec.emit(EventKind.ATTEMPT_STARTED, data={
            "transport": self.transport.value, "target": target, "platform": self.job.profile.platform.name,
            "lot": self.job.lot_name, "steps": [s.to_dict() for s in steps],
            "tests": [{"name": n, "title": t} for n, t in self.job.profile.tests.titles().items()]})


def unavailable_reason(step: str | None, exc: RegistryUnavailable) -> str:
    """How an attempt the registry outage ended is closed (issue 10 item 9)."""
    where = f" at {step}" if step else ""
    return f"{UNAVAILABLE_REASON}: the station stopped{where}, the device was left safe ({exc})"


def unit_gone_reason(step: str | None, exc: DeviceGone) -> str:
    """An attempt the unit left: operator words first, the link's own words in brackets (which a
    front end may leave off, see ``station.ui.cardmodel.operator_reason``)."""
    from station.pipeline.steps import BY_NAME

    if step == "connect":  # the target never answered: an empty fixture or a unit without contact
        return f"{NO_UNIT_REASON} ({exc})"
    where = f" during {BY_NAME[step].title.lower() if step in BY_NAME else step}" if step else ""
    return f"{UNIT_GONE_REASON}{where} ({exc})"


def finish_run(run: DeviceRun, body: Any, target: str = "") -> SlotResult:
    """Run ``body`` and turn how it ended into the attempt's outcome."""
    run.started(target)
    try:
        body()
    except StepFailed as f:
        cause = f.cause
        if isinstance(cause, RegistryUnavailable):
            return run.close(Outcome.ERROR, f.step, unavailable_reason(f.step, cause), FAULT_REGISTRY)
        if isinstance(cause, ProbeGone):
            # The station lost its probe: it could not finish, which says nothing about the unit
            # (OpenHTF's ERROR, not FAIL). Stored as failed with the reason.
            return run.close(Outcome.ERROR, f.step, str(cause), FAULT_PROBE_GONE)
        if isinstance(cause, DeviceGone):
            # The unit left (USB unplugged, lifted from the fixture while its probe stayed): this
            # unit did not make it, and the operator knows why from the step and the words.
            return run.close(Outcome.FAILED, f.step, unit_gone_reason(f.step, cause), FAULT_DEVICE_GONE)
        if isinstance(cause, AlreadyDone):
            return run.close(Outcome.SKIPPED, None, str(cause))
        if isinstance(cause, Cancelled):
            return run.close(Outcome.CANCELLED, f.step, str(cause))
        step = cause.step if isinstance(cause, TestsFailed) else f.step
        return run.close(Outcome.FAILED, step, str(cause))
    except Cancelled as exc:
        return run.close(Outcome.CANCELLED, None, str(exc))
    except RegistryUnavailable as exc:  # outside a step: opening the attempt, the status check
        return run.close(Outcome.ERROR, None, unavailable_reason(None, exc), FAULT_REGISTRY)
    except ProbeGone as exc:  # outside a step
        return run.close(Outcome.ERROR, None, str(exc), FAULT_PROBE_GONE)
    except DeviceGone as exc:  # outside a step
        return run.close(Outcome.FAILED, None, unit_gone_reason(None, exc), FAULT_DEVICE_GONE)
    except Exception as exc:
        LOG.exception("bug while provisioning on slot %s", run.result.slot)
        return run.close(Outcome.ERROR, None, f"internal error: {exc!r}", FAULT_INTERNAL)
    return run.close(Outcome.PASSED, None, None)
