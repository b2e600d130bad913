"""What a twin runs after a reset, decided from its flash the way Device OS's bootloader would.

Only code a debugger loads into RAM is really executed by the twin; firmware in flash is modelled:
the boot model reads the module prefixes in internal flash (with the same parser the station uses)
and decides between DFU, safe mode and running the user part. This is where the project's most
expensive mistake becomes visible: letting Device OS run on a device with a radio makes it connect
to the Particle cloud, which the station must never cause during provisioning. The boot model
records that as a ``first_connect`` event (once per boot, with the reason) so tests can prove it.

Before any of that the chain must hold (:mod:`station.sim.boot_chain`): reset vector from the MBR,
UICR.NRFFW[0], a bootloader module there. When it does not, the core faults (``fault``): nothing
runs, so there is no USB face and no serial console, only the debug port.

Which boots connect, as on a real Gen3 device (every Gen3 platform has a cloud radio: Wi-Fi on the
Argon, cellular on the others):

* DFU (and listening mode) never connect: the bootloader has no network stack.
* Safe mode (breathing magenta: Device OS present, user part dependencies unmet or user part
  invalid) DOES connect: Device OS goes online precisely so the cloud can send the missing modules
  over the air. A factory-test user part in MANUAL mode does not help here, because in safe mode it
  never runs; that is why a station must verify every module before it lets a device run.
* The factory-test firmware in MANUAL mode does not connect; product firmware, any other mode and
  unknown firmware (no app descriptor) connect.

Every face that lets the core run calls :func:`boot_device`: SWD reset-run (probe reset, AIRCR
SYSRESETREQ, pyocd resuming on disconnect), USB RESET control request, leaving DFU, plugging in.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.domain import ModuleFunction
from station.sim.device import State, Twin

BOOT_CAUSES = ("power-on", "swd-reset", "swd-resume", "usb-reset", "dfu-leave", "pin-reset")


@dataclass(frozen=True)
class BootDecision:
    """What the firmware in flash makes the device do, and why."""

    run_state: str  # "fault" | "dfu" | "safe_mode" | "running"
    running_app: str | None  # "product" | "factory-test" | "unknown" when running
    connects: bool  # Device OS would open a cloud connection on its own (safe mode included)
    reason: str


def decide(twin: Twin) -> BootDecision:
    """Read the twin's internal flash and decide, without changing anything.

    Kept free of side effects so faces and tests can ask "what would this device do if it ran
    now?" (e.g. before letting a probe resume it) without booting it.
    """
    from station.firmware.appdesc import read_app_descriptor  # firmware parsing lives in one place
    from station.firmware.gen3 import dependencies_satisfied, read_flash_modules
    from station.sim.boot_chain import follow  # the twin's own reading of the MBR and UICR

    chain = follow(twin)
    if not chain.boots:
        return BootDecision("fault", None, False, chain.why or "no boot")
    flash = twin.flash

    def read(address: int, size: int) -> bytes:
        return bytes(flash[address : address + size])

    modules = read_flash_modules(read, twin.platform.id)
    valid = [m for m in modules if m.valid]
    functions = {int(m.function) for m in valid}
    if int(ModuleFunction.BOOTLOADER) not in functions:
        bad = [m for m in modules if int(m.function) == int(ModuleFunction.BOOTLOADER)]
        why = bad[0].reason if bad else "not found"
        return BootDecision("fault", None, False, f"no valid bootloader: {why}")
    if int(ModuleFunction.SYSTEM_PART) not in functions and int(ModuleFunction.MONOLITHIC) not in functions:
        return BootDecision("dfu", None, False, "no valid system part")
    ok, unmet = dependencies_satisfied(valid)
    if not ok:
        # Safe mode goes online to fetch the missing modules, whatever the user part would do.
        return BootDecision("safe_mode", None, True, "; ".join(unmet) or "unmet dependencies")
    users = [m for m in valid if int(m.function) == int(ModuleFunction.USER_PART)]
    if not users:
        bad = [m for m in modules if int(m.function) == int(ModuleFunction.USER_PART)]
        why = f"user part invalid: {bad[0].reason}" if bad else "no user part"
        return BootDecision("safe_mode", None, True, why)
    user = users[0]
    desc = read_app_descriptor(read(user.start, user.end - user.start))
    if desc is None:
        # Unknown code: assume it does what most firmware does (AUTOMATIC mode: connect).
        return BootDecision("running", "unknown", True, "user part without app descriptor")
    app = desc.app if desc.app in ("product", "factory-test") else "unknown"
    manual = str(desc.system_mode).upper() == "MANUAL"
    connects = app != "factory-test" or not manual
    return BootDecision("running", app, connects, f"{app} firmware, {desc.system_mode} mode")


def boot_device(twin: Twin, *, cause: str) -> State:
    """Reset-and-run: decide what the firmware does, update the state, record the events.

    A twin without power (unplugged) does not boot. ``dfu_requested`` (set by the DFU control
    request) wins over the flash contents once and is then cleared, like the bootloader's flag.
    A boot that connects records one ``first_connect`` event carrying the run state and the
    reason, so a failing test says *why* the device went online (e.g. which dependency was unmet).
    """
    with twin.lock:
        state = twin.state
        if not state.plugged:
            return state
        from station.sim.ota import apply_pending  # the bootloader applies staged updates first

        apply_pending(twin)
        if state.dfu_requested:
            decision = BootDecision("dfu", None, False, "DFU requested")
        else:
            decision = decide(twin)
        from station.sim.approtect import bootloader_opens_port

        new = twin.update_state(
            run_state=decision.run_state,
            running_app=decision.running_app,
            dfu_requested=False,
            generation=state.generation + 1,
            # a hardened part re-locked at this reset; its bootloader may open it again
            ap_open=decision.run_state != "fault" and bootloader_opens_port(twin),
        )
        twin.events.record(
            "boot",
            cause=cause,
            run_state=decision.run_state,
            running_app=decision.running_app,
            reason=decision.reason,
        )
        if decision.connects:
            twin.events.record(
                "first_connect",
                cause=cause,
                run_state=decision.run_state,
                app=decision.running_app,
                platform=twin.platform.name,
                reason=decision.reason,
            )
        return new


def power_on(twin: Twin) -> State:
    """Power applied (cable plugged): the core runs from reset unless a probe holds it."""
    return boot_device(twin, cause="power-on")


def hold(twin: Twin, run_state: str) -> State:
    """The debugger stopped the firmware (``halted``) or holds the core in reset (``reset``)."""
    if run_state not in ("halted", "reset", "debug"):
        raise ValueError(f"not a debugger-held state: {run_state}")
    with twin.lock:
        state = twin.state
        if state.run_state == run_state and state.running_app is None:
            return state
        return twin.update_state(run_state=run_state, running_app=None)
