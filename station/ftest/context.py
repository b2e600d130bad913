"""The data the functional test runner works with: its context, measurements and the plan's result.

Kept apart from the runner so the step checks (:mod:`station.ftest.checks`) and the runner can both
use them without importing each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from station.domain import Platform
from station.profile.plan import TestStep

if TYPE_CHECKING:
    from station.hw.interfaces import SerialConsole, SwdLink, UsbControl
    from station.profile.model import Profile

#: (step_name, question, timeout_s) -> True (yes) / False (no) / None (unanswered in time)
AskOperator = Callable[[str, str, float], "bool | None"]

#: on_step(step_name, status): status is "started", "passed", "failed" or "cancelled"
StepSink = Callable[[str, str], None]


def never_answer(step: str, question: str, timeout_s: float) -> bool | None:
    """Headless default: nobody is there to answer."""
    return None


@dataclass
class TestContext:
    __test__ = False

    device_id: str
    platform: Platform
    profile: Profile
    serial: SerialConsole | None = None
    swd: SwdLink | None = None
    usb: UsbControl | None = None
    ask_operator: AskOperator = never_answer
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class Measurement:
    step: str
    name: str
    kind: str
    value: float | None
    text: str | None
    unit: str | None
    low: float | None
    high: float | None
    expected: str | None
    passed: bool
    duration_s: float
    try_number: int
    reason: str | None


@dataclass
class PlanResult:
    passed: bool
    measurements: list[Measurement]
    failing_step: str | None
    reason: str | None
    cancelled: bool = False
    #: the device (or its link) disappeared mid-test: the run ends there, as the unit leaving
    device_gone: bool = False


def failed_measurement(
    step: TestStep, try_number: int, t0: float, reason: str, name: str | None = None
) -> Measurement:
    """A failed try with no reading: the link failed or the precondition (a link) is missing."""
    return Measurement(
        step=step.name,
        name=name or step.name,
        kind=step.kind,
        value=None,
        text=None,
        unit=step.unit,
        low=step.low,
        high=step.high,
        expected=None,
        passed=False,
        duration_s=time.monotonic() - t0,
        try_number=try_number,
        reason=reason,
    )


def measure(
    step: TestStep,
    try_number: int,
    t0: float,
    *,
    name: str | None = None,
    passed: bool,
    value: float | None = None,
    text: str | None = None,
    unit: str | None = None,
    low: float | None = None,
    high: float | None = None,
    expected: str | None = None,
    reason: str | None = None,
) -> Measurement:
    """One measurement of a try; ``reason`` is kept only when it failed."""
    return Measurement(
        step=step.name,
        name=name or step.name,
        kind=step.kind,
        value=value,
        text=text,
        unit=unit,
        low=low,
        high=high,
        expected=expected,
        passed=passed,
        duration_s=time.monotonic() - t0,
        try_number=try_number,
        reason=None if passed else reason,
    )
