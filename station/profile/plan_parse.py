"""Parse a profile's ``[[tests]]`` tables into a :class:`~station.profile.plan.TestPlan`.

Each kind accepts only its own keys, so a ``min`` on an operator step (which would never be
checked) is an error rather than a limit someone believes is enforced.
"""

from __future__ import annotations

import re
from typing import Any

from station.profile.plan import (
    COMMON_KEYS,
    IDENTITY_CHECKS,
    KIND_KEYS,
    STEP_KINDS,
    TITLE_LIMIT,
    TestPlan,
    TestStep,
)
from station.profile.schema import Section, number_problem, text_problem

#: the longest a step may wait for a reply or an operator: a slot is never held longer per try
MAX_TIMEOUT_S = 3600.0
MAX_RETRIES = 20
#: measurement limits and expected numbers: far beyond any physical quantity, always finite
LIMIT_RANGE = 1e12
#: command arguments travel as JSON numbers: integers beyond 2**53 would lose digits on the way
ARG_INT_LIMIT = 2**53
_ARG_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
#: keys of the request itself (docs/factory-test-protocol.md): an argument of that name would replace them
_PROTOCOL_KEYS = ("id", "cmd")
WORD_MAX = 0xFFFFFFFF  # the nRF52840's buses are 32-bit: addresses, masks and words

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
        "timeout_s": sec.number(
            "timeout", 30.0 if kind == "operator" else 5.0, positive=True, maximum=MAX_TIMEOUT_S
        ),
        "retries": sec.integer("retries", 0, minimum=0, maximum=MAX_RETRIES),
        "description": sec.string("description", "", limit=1000, multiline=True),
        "title": sec.string("title", "", limit=TITLE_LIMIT),
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
    cmd = sec.string("cmd", limit=64)
    args = sec.raw("args", {})
    if not isinstance(args, dict):
        sec.error("args", 'expected a table of command arguments, e.g. args = { color = "green" }')
        args = {}
    args = _args(sec, args)
    low = sec.number("min", None, minimum=-LIMIT_RANGE, maximum=LIMIT_RANGE)
    high = sec.number("max", None, minimum=-LIMIT_RANGE, maximum=LIMIT_RANGE)
    expect = sec.raw("expect", None)
    match = sec.string("match", None)
    problem = _scalar_problem(expect) if expect is not None else None
    if problem:
        sec.error("expect", problem)
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
        "field": sec.string("field", "value", limit=64),
        "low": low,
        "high": high,
        "unit": sec.string("unit", None, limit=16),
        "expect": float(expect) if isinstance(expect, int) and not isinstance(expect, bool) else expect,
        "match": match,
    }


def _scalar_problem(value: Any) -> str | None:
    """Why ``value`` cannot be sent to or compared with the factory-test firmware, or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= ARG_INT_LIMIT else f"integers are at most ±2**53 (JSON), got {value.bit_length()} bits"
    if isinstance(value, float):
        return number_problem(value, -LIMIT_RANGE, LIMIT_RANGE)
    if isinstance(value, str):
        return text_problem(value)
    kind = type(value).__name__
    return f"expected a string, number or boolean, got {'a ' + kind if kind != 'dict' else 'a table'}"


def _args(sec: Section, args: dict[str, Any]) -> dict[str, Any]:
    """Command arguments the firmware can receive as JSON: named like identifiers, scalar values."""
    good: dict[str, Any] = {}
    if len(args) > 32:
        sec.error("args", f"{len(args)} arguments; at most 32 are allowed")
        return good
    for key, value in args.items():
        if not _ARG_KEY_RE.match(key):
            sec.error("args", f"argument name {key[:40]!r} is not a name (letters, digits, '_', at most 32)")
            continue
        if key in _PROTOCOL_KEYS:
            sec.error(f"args.{key}", f"{key!r} is the request's own {key}; an argument cannot replace it")
            continue
        problem = _scalar_problem(value)
        if problem:
            sec.error(f"args.{key}", problem)
            continue
        good[key] = value
    return good


def _identity(sec: Section) -> dict[str, Any]:
    return {"check": sec.string("check", choices=IDENTITY_CHECKS)}


def _memory(sec: Section) -> dict[str, Any]:
    address = sec.integer("address", minimum=0, maximum=WORD_MAX - 3)
    mask = sec.integer("mask", WORD_MAX, minimum=0, maximum=WORD_MAX)
    raw = sec.raw("expect")
    words = raw if isinstance(raw, list) else [raw]
    if raw is not None and not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in words):
        sec.error(
            "expect", "expected an integer (e.g. 0xFFFFFFFF) or an array of integers (any one may match)"
        )
        words = []
    elif raw is not None and len(words) > 64:
        sec.error("expect", f"{len(words)} words; at most 64 are allowed")
        words = []
    elif raw is not None and any(w > WORD_MAX for w in words):
        sec.error("expect", "a memory word is 32 bits: every expected word is at most 0xffffffff")
        words = []
    if isinstance(address, int) and address % 4:
        sec.error("address", f"must be word-aligned (a multiple of 4), got {address:#x}")
    if isinstance(mask, int):
        for w in words:
            if isinstance(w, int) and w & ~mask:
                sec.error("expect", f"{w:#010x} has bits outside the mask {mask:#010x}; it can never match")
    return {"address": address, "mask": mask, "expect_words": tuple(w for w in words if isinstance(w, int))}


def _operator(sec: Section) -> dict[str, Any]:
    return {"question": sec.string("question", limit=500)}


_KIND_PARSERS = {"serial": _serial, "identity": _identity, "memory": _memory, "operator": _operator}
