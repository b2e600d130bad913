"""Identity cross-checks: is this the device we think it is, running what the profile says?

``device-id`` compares every link's answer (a board with a swapped module or a probe wired to the
wrong slot shows up here), ``versions`` compares what the device reports with the profile, and
``cellular`` checks that the modem identities the cloud import will use are well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from station.domain import ModuleFunction, luhn_ok, normalize_device_id
from station.errors import InvalidDeviceId
from station.firmware.gen3 import read_flash_modules
from station.ftest.context import Measurement, TestContext, failed_measurement, measure
from station.profile.model import ModuleRef
from station.profile.plan import TestStep

IMEI_RE = re.compile(r"^\d{15}$")
ICCID_RE = re.compile(r"^\d{19,20}$")


def run_identity(step: TestStep, ctx: TestContext, try_number: int, t0: float) -> list[Measurement]:
    check = {"device-id": _device_id, "versions": _versions, "cellular": _cellular}[step.check or ""]
    return check(step, ctx, try_number, t0)


def _device_id(step: TestStep, ctx: TestContext, try_number: int, t0: float) -> list[Measurement]:
    """Every available link must report the ID the station knows the device by; two links at least."""
    sources: list[tuple[str, Callable[[], str | None]]] = []
    if ctx.swd is not None:
        sources.append(("swd", ctx.swd.read_device_id))
    if ctx.usb is not None:
        sources.append(("usb", ctx.usb.get_device_id))
    if ctx.serial is not None:
        sources.append(("serial", lambda: _serial_device_id(ctx, step.timeout_s)))
    if len(sources) < 2:
        have = sources[0][0].upper() if sources else "no link"
        return [
            failed_measurement(
                step,
                try_number,
                t0,
                f"{step.name}: only {have} can report the device ID here; the cross-check needs two of "
                "SWD, USB and serial",
            )
        ]
    out: list[Measurement] = []
    for source, read in sources:
        reported = read()
        try:
            got = normalize_device_id(reported) if reported else None
        except InvalidDeviceId:
            got = None
        ok = got == ctx.device_id
        if reported is None:
            reason = f"{step.name}: {source.upper()} did not report a device ID"
        else:
            reason = f"{step.name}: {source.upper()} reports {reported}, expected {ctx.device_id}"
        out.append(
            measure(
                step,
                try_number,
                t0,
                name=source,
                passed=ok,
                text=reported,
                expected=ctx.device_id,
                reason=reason,
            )
        )
    return out


def _serial_device_id(ctx: TestContext, timeout: float) -> str | None:
    """The device ID from the factory-test ``hello`` command."""
    assert ctx.serial is not None
    reply = ctx.serial.call("hello", timeout=timeout)
    if not reply.ok:
        return None
    found = _lookup(reply, "device_id")
    return str(found) if found is not None else None


def _lookup(reply: Any, key: str) -> Any:
    """A key of a reply: top level of the raw JSON, or inside a dict ``value``."""
    if isinstance(reply.value, dict) and key in reply.value:
        return reply.value[key]
    return reply.raw.get(key)


#: (function, index, version, valid) of one module as some link reported it
Reported = tuple[int, int, int, bool]


def _versions(step: TestStep, ctx: TestContext, try_number: int, t0: float) -> list[Measurement]:
    """Device OS version (from the running firmware) and module versions, against the profile.

    Module versions come from USB (GET_MODULE_INFO, what Device OS itself reports) when there is a
    USB link, otherwise from reading the module headers in flash over SWD; the factory-test
    protocol only reports the Device OS version.
    """
    prof = ctx.profile
    system: str | None = None
    if ctx.usb is not None:
        system = ctx.usb.get_system_version()
    elif ctx.serial is not None:
        system = _serial_system_version(ctx, step.timeout_s)
    out: list[Measurement] = []
    if ctx.usb is None and ctx.serial is None:
        reason = f"{step.name}: no USB or serial link to ask the running Device OS its version"
        out.append(failed_measurement(step, try_number, t0, reason, name="device-os"))
    else:
        out.append(
            measure(
                step,
                try_number,
                t0,
                name="device-os",
                passed=system == prof.device_os_version,
                text=system,
                expected=prof.device_os_version,
                reason=f"{step.name}: Device OS {system or '(no answer)'} is running, the profile needs "
                f"{prof.device_os_version}",
            )
        )
    reported = _reported_modules(ctx)
    if reported is None:
        reason = f"{step.name}: no USB or SWD link to read the module versions"
        out.append(failed_measurement(step, try_number, t0, reason, name="modules"))
        return out
    for ref in (*prof.modules, prof.expected_user_part(during_tests=True)):
        out.append(_module_measurement(step, try_number, t0, ref, reported))
    return out


def _reported_modules(ctx: TestContext) -> list[Reported] | None:
    if ctx.usb is not None:
        return [(int(m.function), m.index, m.version, m.valid) for m in ctx.usb.get_module_info()]
    if ctx.swd is not None:
        # module CRCs computed on the target: the bytes were just verified, no need to read them back
        found = read_flash_modules(ctx.swd.read_memory, ctx.platform.id, crc_of=ctx.swd.crc32)
        return [(int(m.function), m.index, m.version, m.valid) for m in found]
    return None


def _module_measurement(
    step: TestStep, try_number: int, t0: float, ref: ModuleRef, reported: list[Reported]
) -> Measurement:
    user = ref.function == ModuleFunction.USER_PART
    found = [(v, ok) for f, i, v, ok in reported if f == ref.function and (user or i == ref.index)]
    passed = (ref.version, True) in found
    if not found:
        reason = f"{step.name}: {ref.role} is not on the device (the profile needs v{ref.version})"
    elif found[0][0] == ref.version:
        reason = f"{step.name}: {ref.role} v{ref.version} is on the device but not valid"
    else:
        reason = f"{step.name}: {ref.role} is v{found[0][0]}, the profile needs v{ref.version}"
    return measure(
        step,
        try_number,
        t0,
        name=ref.role,
        passed=passed,
        value=float(found[0][0]) if found else None,
        expected=str(ref.version),
        reason=reason,
    )


def _serial_system_version(ctx: TestContext, timeout: float) -> str | None:
    """The factory-test ``version`` command: ``value`` (or ``system``) is the Device OS version."""
    assert ctx.serial is not None
    reply = ctx.serial.call("version", timeout=timeout)
    if not reply.ok:
        return None
    found = _lookup(reply, "system") if not isinstance(reply.value, str) else reply.value
    return str(found) if found is not None else None


def _cellular(step: TestStep, ctx: TestContext, try_number: int, t0: float) -> list[Measurement]:
    if not ctx.platform.cellular:
        return [
            measure(
                step,
                try_number,
                t0,
                passed=True,
                text="not applicable",
                reason=None,
            )
        ]
    if ctx.serial is None:
        return [
            failed_measurement(step, try_number, t0, f"{step.name}: no serial port to read IMEI and ICCID")
        ]
    out = []
    for what, pattern, digits in (("imei", IMEI_RE, "15 digits"), ("iccid", ICCID_RE, "19-20 digits")):
        reply = ctx.serial.call(what, timeout=step.timeout_s)
        text = str(reply.value) if reply.ok and reply.value is not None else None
        if text is None:
            reason = f"{step.name}: no {what.upper()} ({reply.error or 'empty answer'})"
        elif not pattern.match(text):
            reason = f"{step.name}: {what.upper()} {text!r} is not {digits}"
        elif not luhn_ok(text):
            reason = f"{step.name}: {what.upper()} {text} fails its Luhn check digit"
        else:
            reason = None
        out.append(
            measure(
                step,
                try_number,
                t0,
                name=what,
                passed=reason is None,
                text=text,
                expected=f"{digits}, Luhn",
                reason=reason,
            )
        )
    return out

