"""Judge one factory-test protocol reply against a serial step's limits.

Kept separate from the links so the judgement (units, ranges, exact values, patterns) is tested
on plain replies, and so the wording of a failure, which an operator reads at the line, lives in
one place.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from station.hw.interfaces import TestReply
from station.profile.plan import TestStep


@dataclass(frozen=True)
class Verdict:
    passed: bool
    value: float | None
    text: str | None
    unit: str | None
    expected: str | None
    reason: str | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return None if math.isnan(f) else f


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _field(step: TestStep, reply: TestReply) -> Any:
    if step.field == "value":
        return reply.value
    if isinstance(reply.value, dict) and step.field in reply.value:
        return reply.value[step.field]
    return reply.raw.get(step.field)


def judge_reply(step: TestStep, reply: TestReply) -> Verdict:
    """Pass/fail and the reason, for one reply to ``step.cmd``."""
    unit = reply.unit or step.unit
    if not reply.ok:
        why = reply.error or "no reason given"
        return Verdict(False, None, None, unit, None, f"{step.name}: the device reported an error: {why}")
    raw = _field(step, reply)
    number = _number(raw)
    text = (
        None
        if number is not None or raw is None
        else (str(raw).lower() if isinstance(raw, bool) else str(raw))
    )
    if step.low is not None or step.high is not None:
        return _range(step, raw, number, unit)
    if step.expect is not None:
        return _exact(step, raw, number, text, unit)
    if step.match is not None:
        shown = text if text is not None else (repr(raw) if number is None else str(raw))
        ok = raw is not None and re.search(step.match, shown) is not None
        reason = f"{step.name}: {shown!r} does not match {step.match!r}"
        return Verdict(ok, number, shown, unit, step.match, None if ok else reason)
    return Verdict(True, number, text, unit, None, None)  # no limits: an ok answer is the check


def _range(step: TestStep, raw: Any, number: float | None, unit: str | None) -> Verdict:
    u = f" {unit}" if unit else ""
    expected = (
        f"{'' if step.low is None else _fmt(step.low)}..{'' if step.high is None else _fmt(step.high)}{u}"
    )
    if number is None:
        why = f"{step.name}: expected a number, got {raw!r}"
        return Verdict(False, None, None if raw is None else str(raw), unit, expected, why)
    if step.unit and reply_unit_differs(step.unit, unit):
        why = f"{step.name}: the device answered in {unit}, the limits are in {step.unit}"
        return Verdict(False, number, None, unit, expected, why)
    reason: str | None = None
    if step.low is not None and number < step.low:
        reason = f"{step.name}: {_fmt(number)}{u} is below the minimum {_fmt(step.low)}{u}"
    elif step.high is not None and number > step.high:
        reason = f"{step.name}: {_fmt(number)}{u} is above the maximum {_fmt(step.high)}{u}"
    return Verdict(reason is None, number, None, unit, expected, reason)


def reply_unit_differs(expected: str, got: str | None) -> bool:
    return got is not None and got.strip() != expected.strip()


def _exact(step: TestStep, raw: Any, number: float | None, text: str | None, unit: str | None) -> Verdict:
    exp = step.expect
    if isinstance(exp, bool):
        ok = raw is exp
        shown_exp = str(exp).lower()
    elif isinstance(exp, float):
        ok = number is not None and math.isclose(number, exp, rel_tol=0, abs_tol=1e-9)
        shown_exp = f"{exp:g}"
    else:
        ok = text == exp
        shown_exp = repr(exp)
    got = text if text is not None else (f"{number:g}" if number is not None else "nothing")
    reason = f"{step.name}: expected {shown_exp}, got {got!r}" if not ok else None
    recorded = exp if isinstance(exp, str) else shown_exp  # the record keeps the bare string
    return Verdict(ok, number, text, unit, recorded, reason)
