"""Parse a profile's ``[[tests]]`` tables into a :class:`~station.profile.plan.TestPlan`.

Each kind accepts only its own keys, so a ``min`` on an operator step (which would never be
checked) is an error rather than a limit someone believes is enforced.
"""

from __future__ import annotations

import re
from typing import Any

from station.profile.plan import COMMON_KEYS, IDENTITY_CHECKS, KIND_KEYS, STEP_KINDS, TestPlan, TestStep
from station.profile.schema import Section

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: factory test protocol commands (docs/factory-test-protocol.md); others are allowed for custom firmware
KNOWN_COMMANDS = ("hello", "battery", "vin", "button", "led", "modem", "imei", "iccid", "temp", "version")


def parse_plan(steps: list[Section]) -> TestPlan:
    parsed: list[TestStep] = []
    names: set[str] = set()
    for sec in steps:
        step = _parse_step(sec)
        if step is None:
            continue
        if step.name in names:
            sec.error(
                "name", f"duplicate step name {step.name!r}: operator answers and records need unique names"
            )
        names.add(step.name)
        parsed.append(step)
    return TestPlan(tuple(parsed))


def _parse_step(sec: Section) -> TestStep | None:
    name = sec.string("name")
    kind = sec.string("kind", choices=STEP_KINDS)
    if isinstance(name, str) and not _NAME_RE.match(name):
        sec.error(
            "name", f"use letters, digits, '-', '_' or '.' (it is typed as --answer NAME=yes), got {name!r}"
        )
    common: dict[str, Any] = {
        "required": sec.boolean("required", True),
        "stop_on_fail": sec.boolean("stop_on_fail", False),
        "timeout_s": sec.number("timeout", 30.0 if kind == "operator" else 5.0, positive=True),
        "retries": sec.integer("retries", 0, minimum=0),
        "description": sec.string("description", ""),
    }
    if kind is None or name is None:
        sec.finish(allowed=[*COMMON_KEYS, *(k for keys in KIND_KEYS.values() for k in keys)])
        return None
    specific = _KIND_PARSERS[kind](sec)
    _reject_foreign_keys(sec, kind)
    sec.finish()
    return TestStep(name=name, kind=kind, **common, **specific)


def _reject_foreign_keys(sec: Section, kind: str) -> None:
    """A key valid for another kind gets a precise message before the generic typo check."""
    for key in list(sec.data):
        if key in COMMON_KEYS or key in KIND_KEYS[kind]:
            continue
        owners = [k for k, keys in KIND_KEYS.items() if key in keys]
        if owners:
            sec.raw(key)  # mark as seen so finish() does not report it twice
            sec.error(key, f"not used by kind {kind!r} (only by {', '.join(repr(o) for o in owners)})")


def _serial(sec: Section) -> dict[str, Any]:
    cmd = sec.string("cmd")
    args = sec.raw("args", {})
    if not isinstance(args, dict):
        sec.error("args", 'expected a table of command arguments, e.g. args = { color = "green" }')
        args = {}
    low = sec.number("min", None)
    high = sec.number("max", None)
    expect = sec.raw("expect", None)
    match = sec.string("match", None)
    if expect is not None and not isinstance(expect, str | int | float | bool):
        sec.error("expect", "expected a string, number or boolean")
        expect = None
    if low is not None and high is not None and low > high:
        sec.error("min", f"minimum {low} is above maximum {high}")
    if match is not None:
        try:
            re.compile(match)
        except re.error as exc:
            sec.error("match", f"not a valid regular expression: {exc}")
            match = None
    limits = [low is not None or high is not None, expect is not None, match is not None]
    if sum(limits) > 1:
        sec.error("expect", "use only one of min/max, expect, or match in one step")
    return {
        "cmd": cmd,
        "args": tuple(sorted(args.items())),
        "field": sec.string("field", "value"),
        "low": low,
        "high": high,
        "unit": sec.string("unit", None),
        "expect": float(expect) if isinstance(expect, int) and not isinstance(expect, bool) else expect,
        "match": match,
    }


def _identity(sec: Section) -> dict[str, Any]:
    return {"check": sec.string("check", choices=IDENTITY_CHECKS)}


def _memory(sec: Section) -> dict[str, Any]:
    address = sec.integer("address", minimum=0)
    mask = sec.integer("mask", 0xFFFFFFFF, minimum=0)
    raw = sec.raw("expect")
    words = raw if isinstance(raw, list) else [raw]
    if raw is not None and not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in words):
        sec.error(
            "expect", "expected an integer (e.g. 0xFFFFFFFF) or an array of integers (any one may match)"
        )
        words = []
    if isinstance(address, int) and address % 4:
        sec.error("address", f"must be word-aligned (a multiple of 4), got {address:#x}")
    if isinstance(mask, int):
        for w in words:
            if isinstance(w, int) and w & ~mask:
                sec.error("expect", f"{w:#010x} has bits outside the mask {mask:#010x}; it can never match")
    return {"address": address, "mask": mask, "expect_words": tuple(w for w in words if isinstance(w, int))}


def _operator(sec: Section) -> dict[str, Any]:
    return {"question": sec.string("question")}


_KIND_PARSERS = {"serial": _serial, "identity": _identity, "memory": _memory, "operator": _operator}
