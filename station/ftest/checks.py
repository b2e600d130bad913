"""What each step kind measures and how it is judged (identity checks: :mod:`station.ftest.identity`).

``run_step`` performs one try of one step and returns its measurements. A link that is needed but
absent is a failed measurement with a reason the operator can act on, never a silent pass.
Reasons are whole sentences that start with the step name, because they end up alone on a
report line or a slot's status bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from station.ftest.context import Measurement, TestContext, failed_measurement, measure
from station.ftest.identity import run_identity
from station.ftest.verdict import judge_reply
from station.profile.plan import TestStep


def run_step(step: TestStep, ctx: TestContext, try_number: int) -> list[Measurement]:
    return _KINDS[step.kind](step, ctx, try_number, time.monotonic())


# --------------------------------------------------------------------------- serial
def _serial(step: TestStep, ctx: TestContext, try_number: int, t0: float) -> list[Measurement]:
    if ctx.serial is None:
        return [failed_measurement(step, try_number, t0, f"{step.name}: no serial port to the device")]
    assert step.cmd is not None
    reply = ctx.serial.call(step.cmd, timeout=step.timeout_s, **dict(step.args))
    v = judge_reply(step, reply)
    return [
        measure(
            step,
            try_number,
            t0,
            passed=v.passed,
            value=v.value,
            text=v.text,
            unit=v.unit,
            low=step.low,
            high=step.high,
            expected=v.expected,
            reason=v.reason,
        )
    ]


# --------------------------------------------------------------------------- memory
def _memory(step: TestStep, ctx: TestContext, try_number: int, t0: float) -> list[Measurement]:
    if ctx.swd is None:
        # Only an SWD run has a debug port; a USB-only bench run records the check as not
        # applicable (visible in the record) instead of failing every device for its transport.
        return [measure(step, try_number, t0, passed=True, text="not applicable: no SWD on a USB-only run",
                        reason=None)]
    assert step.address is not None
    word = ctx.swd.read32(step.address) & 0xFFFFFFFF
    masked = word & step.mask
    expected = " or ".join(f"{w:#x}" for w in step.expect_words)
    ok = masked in step.expect_words
    shown = f"{word:#010x}" + (f" (masked {masked:#x})" if step.mask != 0xFFFFFFFF else "")
    return [
        measure(
            step,
            try_number,
            t0,
            passed=ok,
            # a register word is a bit pattern, not a quantity: text only, so the lot report never
            # averages it as a statistic (``approtect-open 4.295e+09``)
            text=f"{word:#010x}",
            expected=expected,
            reason=f"{step.name}: {step.address:#010x} reads {shown}, expected {expected}",
        )
    ]


# --------------------------------------------------------------------------- operator
def _operator(step: TestStep, ctx: TestContext, try_number: int, t0: float) -> list[Measurement]:
    question = step.question or step.name
    answer = ctx.ask_operator(step.name, question, step.timeout_s)
    if answer is None and ctx.cancel.is_set():
        reason = f"{step.name}: {question!r} was not answered: the slot was cancelled"
    elif answer is None:
        reason = f"{step.name}: {question!r} was not answered within {step.timeout_s:g} s"
    else:
        reason = f"{step.name}: operator answered no to {question!r}"
    text = None if answer is None else ("yes" if answer else "no")
    return [measure(step, try_number, t0, passed=answer is True, text=text, expected="yes", reason=reason)]


_KINDS: dict[str, Callable[[TestStep, TestContext, int, float], list[Measurement]]] = {
    "serial": _serial,
    "identity": run_identity,
    "memory": _memory,
    "operator": _operator,
}
