"""Run a functional test plan against one device.

Pure core: no Qt, no hardware imports. The links (serial console, SWD probe, USB control) and the
operator come in through :class:`TestContext`, so the same runner serves the CLI, the GUI and
unit tests with fakes. Every try of every step produces measurements, handed to the caller as
they happen (``on_measurement``) so a record survives even if the station dies mid-plan.

Device errors raised by a link become failed measurements with a readable reason; ``DeviceGone``
also ends the plan, because nothing after it can be measured. Cancellation is honoured between
steps and between tries (a step in progress finishes: links have their own timeouts).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from station.errors import DeviceError, DeviceGone, DeviceTimeout
from station.ftest.checks import run_step
from station.ftest.context import (
    AskOperator,
    Measurement,
    PlanResult,
    StepSink,
    TestContext,
    failed_measurement,
    never_answer,
)
from station.profile.plan import TestPlan, TestStep

__all__ = [
    "AskOperator",
    "Measurement",
    "PlanResult",
    "StepSink",
    "TestContext",
    "never_answer",
    "run_plan",
]


def _ignore_measurement(m: Measurement) -> None:
    """Default sink."""


def _ignore_step(step: str, status: str) -> None:
    """Default sink."""


def run_plan(
    plan: TestPlan,
    ctx: TestContext,
    *,
    on_measurement: Callable[[Measurement], None] = _ignore_measurement,
    on_step: StepSink = _ignore_step,
) -> PlanResult:
    measurements: list[Measurement] = []
    failing: tuple[str, str] | None = None  # first required step that failed, with its reason
    for step in plan:
        if ctx.cancel.is_set():
            return _cancelled(measurements, step, failing)
        on_step(step.name, "started")
        passed, gone = False, False
        for try_number in range(1, step.tries + 1):
            if try_number > 1 and ctx.cancel.is_set():
                on_step(step.name, "cancelled")
                return _cancelled(measurements, step, failing)
            tried, gone = _one_try(step, ctx, try_number)
            for m in tried:
                measurements.append(m)
                on_measurement(m)
            passed = all(m.passed for m in tried)
            if passed or gone:
                break
        if not passed and not gone and ctx.cancel.is_set() and _unjudged(tried):
            # Not a verdict: the cancel ended the step (an operator question is aborted with its slot),
            # so the run is cancelled here, whether or not another step follows. A step that failed
            # on its own (a limit missed, an operator's "no") while Cancel was pressed stays failed.
            on_step(step.name, "cancelled")
            return _cancelled(measurements, step, failing)
        on_step(step.name, "passed" if passed else "failed")
        if passed:
            continue
        reason = next((m.reason for m in reversed(measurements) if not m.passed and m.reason), None)
        reason = reason or f"{step.name}: failed"
        if gone:
            return PlanResult(False, measurements, step.name, reason, device_gone=True)
        if step.required and failing is None:
            failing = (step.name, reason)
        if step.stop_on_fail:
            name, why = failing or (step.name, reason)
            return PlanResult(
                failing is None, measurements, name if failing else None, why if failing else None
            )
    if failing:
        return PlanResult(False, measurements, failing[0], failing[1])
    return PlanResult(True, measurements, None, None)


def _one_try(
    step: TestStep,
    ctx: TestContext,
    try_number: int,
) -> tuple[list[Measurement], bool]:
    """Run one try; turn a link's device error into a failed measurement. Returns (measurements, gone)."""
    t0 = time.monotonic()
    try:
        return run_step(step, ctx, try_number), False
    except DeviceError as exc:
        if isinstance(exc, DeviceTimeout):
            reason = f"{step.name}: no answer within {step.timeout_s:.1f} s"
        elif isinstance(exc, DeviceGone):
            reason = f"{step.name}: the device disappeared ({exc})"
        else:
            reason = f"{step.name}: {exc}"
        failed = failed_measurement(step, try_number, t0, reason)
        return [failed], isinstance(exc, DeviceGone)


def _unjudged(tried: list[Measurement]) -> bool:
    """Every failure of this try is an operator question that got no answer: the unit was never judged."""
    failed = [m for m in tried if not m.passed]
    return bool(failed) and all(m.kind == "operator" and m.text is None for m in failed)


def _cancelled(
    measurements: list[Measurement], step: TestStep, failing: tuple[str, str] | None
) -> PlanResult:
    if failing:
        return PlanResult(False, measurements, failing[0], failing[1], cancelled=True)
    return PlanResult(False, measurements, step.name, f"cancelled at step {step.name}", cancelled=True)
