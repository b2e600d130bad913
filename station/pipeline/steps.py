"""The step catalogue: every step a provisioning run can record, in order, with its weight.

Defined once so the CLI's progress bar, the GUI's step chips and the flows cannot drift apart:
:func:`steps_for` says which steps a run of a profile over a transport goes through (the ones the
run decides on the device — enter DFU only if it is not in DFU, a bootloader update only if the
device's is different — are marked ``optional``), and the flows' step names are held to
:data:`CATALOGUE` by a test that reads their source. ``weight`` is a step's rough share of a run's
wall time on real hardware (flashing dominates), used to move one bar through a whole attempt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from station.domain import Transport

if TYPE_CHECKING:
    from pathlib import Path

    from station.profile.model import Profile


@dataclass(frozen=True)
class StepInfo:
    name: str
    title: str
    weight: float
    #: the transports whose flow has this step
    transports: tuple[Transport, ...] = (Transport.SWD, Transport.USB)
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["transports"] = [t.value for t in self.transports]
        return d


_S, _U = (Transport.SWD,), (Transport.USB,)

#: every step in the order a run records them
CATALOGUE: tuple[StepInfo, ...] = (
    StepInfo("connect", "Connect", 1, _S),
    StepInfo("identify", "Identify", 1),
    StepInfo("registry-check", "Registry check", 0.5),
    StepInfo("enter-dfu", "Enter DFU", 2, _U, optional=True),
    StepInfo("flash", "Flash", 24),
    StepInfo("verify", "Verify", 5, _S),
    StepInfo("boot-proof", "Boot proof", 0.5, _S),
    StepInfo("enable-boot", "Enable Device OS", 0.5),
    StepInfo("start-test-firmware", "Start test firmware", 1.5),
    StepInfo("update-bootloader", "Update bootloader", 6, _U, optional=True),
    StepInfo("update-ncp", "Update NCP", 20, _U, optional=True),
    StepInfo("module-info", "Module info", 0.5, _U, optional=True),
    StepInfo("open-console", "Open console", 1, _U),
    StepInfo("setup-done", "Setup done", 0.5),
    StepInfo("functional-tests", "Functional tests", 5),
    StepInfo("flash-final", "Flash product", 5),
    StepInfo("verify-final", "Verify product", 1.5, _S),
    StepInfo("boot-proof-final", "Product proof", 0.5, _S),
    StepInfo("enable-boot-final", "Enable Device OS", 0.5),
    StepInfo("secure-state", "Secure state", 1),
    StepInfo("lock-debug-port", "Lock debug port", 0.5, _S),
    StepInfo("register", "Register", 1),
    StepInfo("label", "Label", 0.5),
)

BY_NAME: dict[str, StepInfo] = {s.name: s for s in CATALOGUE}


def steps_for(profile: Profile, transport: Transport, *, labels_dir: Path | None = None) -> list[StepInfo]:
    """The steps a run of ``profile`` over ``transport`` goes through, in order.

    Mirrors the decisions :mod:`station.pipeline.swd_flow` and :mod:`station.pipeline.usb_flow`
    take from the profile alone; the contract test runs both flows on twins and checks every step
    they record is listed here, in this order.
    """
    tests = bool(profile.tests.steps)
    test_fw = profile.test_firmware is not None
    roles = {m.role for m in profile.modules}
    major = profile.device_os_version.split(".", 1)[0]
    old_os = major.isdigit() and int(major) < 4
    verify = profile.flash.verify
    if transport is Transport.SWD:
        runner = test_fw and tests  # SWD flashes the test firmware only when there are tests
        on = {
            "verify": verify or runner,
            "start-test-firmware": runner,
            "setup-done": runner and old_os,
            "functional-tests": tests,
            "flash-final": runner,
            "verify-final": runner,  # always: the product proof takes the product's bytes from it
            "boot-proof-final": runner,  # "boot-proof" (and "enable-boot") run on every SWD device
            "enable-boot-final": runner,
            "lock-debug-port": profile.lock_debug_port,
        }
    else:
        ncp = "ncp" in roles  # the NCP always goes over the control protocol
        runner = test_fw and (tests or ncp or "bootloader" in roles)
        on = {
            "start-test-firmware": runner,
            "update-bootloader": runner and "bootloader" in roles,
            "update-ncp": runner and ncp,
            "module-info": runner and (ncp or "bootloader" in roles),
            "open-console": runner and tests,
            "setup-done": runner and tests and old_os,
            "functional-tests": tests,
            "flash-final": runner,
            "enable-boot": runner,  # without a runner the product is written first: only the final pair
        }
    on["label"] = labels_dir is not None
    return [s for s in CATALOGUE if transport in s.transports and on.get(s.name, True)]


def spans(steps: list[StepInfo]) -> dict[str, tuple[float, float]]:
    """Each step's (start, end) share of the whole run, from the weights (for one progress bar)."""
    total = sum(s.weight for s in steps) or 1.0
    out: dict[str, tuple[float, float]] = {}
    at = 0.0
    for s in steps:
        out[s.name] = (at / total, (at + s.weight) / total)
        at += s.weight
    return out
