"""A functional test plan as data: ordered steps with their limits.

Modelled on production test frameworks (OpenHTF phases, hardpy tests): each step yields named
measurements checked against limits. The plan is parsed from a profile's ``[[tests]]`` tables by
:mod:`station.profile.plan_parse` and executed by :func:`station.ftest.runner.run_plan`; keeping
it plain frozen data lets the profile hash stand for exactly what was run. It lives in the profile
package because a plan is part of a profile; the test layer that runs it sits above.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: step kinds the runner knows; the keys each kind accepts are in ``KIND_KEYS``
STEP_KINDS = ("serial", "identity", "memory", "operator")
IDENTITY_CHECKS = ("device-id", "versions", "cellular")

COMMON_KEYS = ("name", "kind", "title", "required", "stop_on_fail", "timeout", "retries", "description")
#: how long a step's ``title`` may be: it is the line "Failed at: …" on a card read from two metres
TITLE_LIMIT = 40
#: what an identity check is called when its step has no ``title``
IDENTITY_TITLES = {"device-id": "Device ID matches", "versions": "Firmware versions",
                   "cellular": "Cellular IDs (IMEI, ICCID)"}
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "serial": ("cmd", "args", "field", "min", "max", "unit", "expect", "match"),
    "identity": ("check",),
    "memory": ("address", "mask", "expect"),
    "operator": ("question",),
}


@dataclass(frozen=True)
class TestStep:
    """One step. Only the fields of its ``kind`` are meaningful; the parser rejects the others."""

    __test__ = False  # not a pytest class despite the name

    name: str
    kind: str
    required: bool = True  # a failure makes the device fail
    stop_on_fail: bool = False  # a failure (after retries) ends the plan
    timeout_s: float = 5.0
    retries: int = 0  # extra tries after the first
    description: str = ""
    title: str = ""  # what an operator reads ("Battery voltage"); empty: see display_title
    # serial
    cmd: str | None = None
    args: tuple[tuple[str, Any], ...] = ()
    field: str = "value"  # which reply field the limits apply to
    low: float | None = None
    high: float | None = None
    unit: str | None = None
    expect: str | float | bool | None = None
    match: str | None = None
    # identity
    check: str | None = None
    # memory
    address: int | None = None
    mask: int = 0xFFFFFFFF
    expect_words: tuple[int, ...] = ()  # the masked word must equal one of these
    # operator
    question: str | None = None

    @property
    def tries(self) -> int:
        return 1 + self.retries

    @property
    def display_title(self) -> str:
        """The profile's ``title``, else words made from the kind and name.

        The name is an identifier (``cellular-ids``, typed as ``--answer NAME=yes``) and reads
        badly as "Failed at: Cellular ids"; without a title the kind says what sort of check
        failed: an identity check by its own name, a memory word, the operator's judgement, a
        reading with its unit.
        """
        if self.title:
            return self.title
        words = self.name.replace("-", " ").replace("_", " ").replace(".", " ").strip()
        words = words[:1].upper() + words[1:]
        if self.kind == "identity" and self.check in IDENTITY_TITLES:
            return IDENTITY_TITLES[self.check]
        if self.kind == "memory":
            return f"Memory check: {words}"
        if self.kind == "operator":
            return f"Operator check: {words}"
        if self.kind == "serial" and self.unit:
            return f"{words} ({self.unit})"
        return words


@dataclass(frozen=True)
class TestPlan:
    """Ordered steps; empty means the device is not functionally tested (recorded as such)."""

    __test__ = False

    steps: tuple[TestStep, ...] = ()

    def __iter__(self) -> Iterator[TestStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def titles(self) -> dict[str, str]:
        """Each step's name and what an operator reads for it (:attr:`TestStep.display_title`)."""
        return {s.name: s.display_title for s in self.steps}

    def step(self, name: str) -> TestStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)
