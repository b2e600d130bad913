"""What one slot card shows, computed from the core's events without Qt.

A card is a small state machine driven by the run's events (attempt started → steps → finished)
and by the operator (a new unit fitted or scanned clears the last result). Keeping it free of Qt
means the rules a reviewer cares about — FAIL is the unit, ERROR is the station; a finished result
stays until the next unit; the failing step is said in operator words — are plain functions with
plain tests, and the widget only paints what this says.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any


class CardState(enum.StrEnum):
    WAITING = "waiting"  # nothing on the slot yet, or the last unit was removed
    RUNNING = "running"
    PASS = "pass"
    FAIL = "fail"  # the unit is bad
    ERROR = "error"  # the station could not finish (probe lost, registry down): not the unit's fault
    STOPPED = "stopped"  # cancelled by the operator
    DONE_BEFORE = "done-before"  # the registry already has this unit provisioned; nothing was done


#: Operator words for the run's steps. The step catalogue of :mod:`station.app` may carry its own
#: titles; this is the fallback so an unknown step still reads as a sentence.
STEP_TITLES: dict[str, str] = {
    "connect": "Connecting",
    "identify": "Reading device ID",
    "registry-check": "Checking the registry",
    "enter-dfu": "Entering DFU mode",
    "bootloader-check": "Checking the bootloader",
    "flash": "Writing firmware",
    "verify": "Checking firmware",
    "start-test-firmware": "Starting the test firmware",
    "open-console": "Opening the test console",
    "setup-done": "Marking setup done",
    "functional-tests": "Testing",
    "flash-final": "Writing product firmware",
    "verify-final": "Checking product firmware",
    "secure-state": "Securing the device",
    "boot-proof": "Checking it boots",
    "boot-proof-final": "Checking the product will run",
    "enable-boot": "Letting it boot",
    "enable-boot-final": "Letting the product boot",
    "update-bootloader": "Updating the bootloader",
    "update-ncp": "Updating the radio (NCP)",
    "module-info": "Reading the module table",
    "lock-debug-port": "Locking the debug port",
    "register": "Registering",
    "label": "Printing the label",
}


def step_title(name: str | None, titles: dict[str, str] | None = None) -> str:
    if not name:
        return ""
    if titles and name in titles:
        return titles[name]
    if name in STEP_TITLES:
        return STEP_TITLES[name]
    return name.replace("-", " ").replace("_", " ").capitalize()


def error_headline(fault: str | None) -> str:
    """What an ERROR card tells the operator to do, by the part of the station that could not go on
    (``fault`` from the core's ``attempt_finished``).

    As short as a FAIL's "Failed at: Battery voltage", so it is drawn as large and read from as far:
    the step it stopped in goes on the reason line under the banner (:meth:`SlotView.card_reason`).
    """
    if fault == "probe-gone":
        # the slot's probe cable off or its probe dead: the station's, not the unit's
        return "Probe lost: call engineer"
    if fault == "device-gone":
        # an older core that called a lost unit an error: the operator can put it right
        return "Check unit and probe"
    if fault == "registry-unavailable":
        return "No registry: call engineer"
    return "Fault: call an engineer"


def strip_step_prefix(reason: str, step: str | None) -> str:
    """The reason without the technical step name it starts with ("battery: 3.10 V …" → "3.10 V …"):
    the card already says "Failed at: Battery voltage". The record and the log keep the full text."""
    if step and reason.startswith(f"{step}: "):
        rest = reason[len(step) + 2:].lstrip()
        return rest[:1].upper() + rest[1:] if rest else reason
    return reason


def operator_reason(reason: str) -> str:
    """The core's sentence without its bracketed technical tail (probe serials, pyocd's words):
    the card shows this; the full sentence is in the tooltip, the log and the record."""
    text = reason.strip()
    while text.endswith(")") and " (" in text:
        depth, i = 0, len(text) - 1
        for i in range(len(text) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[i], 0)
            if depth == 0:
                break
        if i <= 0 or text[i - 1] != " ":
            break
        text = text[: i - 1].rstrip()
    return text


def elapsed_text(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``): readable at a glance, no units to parse."""
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


@dataclass
class StepChip:
    name: str
    title: str
    state: str = "pending"  # pending | running | passed | failed | cancelled | skipped
    seconds: float | None = None


@dataclass
class PromptView:
    """A question on this card. ``prompt_id`` is what the answer is sent back with."""

    prompt_id: str
    question: str
    choices: tuple[str, ...] = ("yes", "no")
    timeout_s: float = 0.0
    opened_at: float = field(default_factory=time.monotonic)

    def remaining(self, now: float | None = None) -> float:
        if self.timeout_s <= 0:
            return float("inf")
        return max(0.0, self.opened_at + self.timeout_s - (time.monotonic() if now is None else now))


@dataclass
class SlotView:
    """Everything a card shows; mutated by :meth:`apply` and by operator actions."""

    slot: str
    title: str = ""
    transport: str = ""
    device_id: str | None = None
    platform: str | None = None
    serial_number: str | None = None
    state: CardState = CardState.WAITING
    step: str | None = None
    step_fraction: float | None = None  # None: this step reports no progress
    chips: list[StepChip] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    failing_step: str | None = None
    headline: str = ""  # the big line under the state word, operator words
    reason: str = ""  # the core's own sentence, smaller
    prompt: PromptView | None = None
    attempt_id: int | None = None
    titles: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived
    @property
    def finished(self) -> bool:
        return self.state not in (CardState.WAITING, CardState.RUNNING)

    @property
    def locked(self) -> bool:
        """The unit failed because its chip is read-protected (APPROTECT): an engineer may recover it."""
        return (self.state is CardState.FAIL and self.failing_step == "identify"
                and "locked" in self.reason.lower())

    def card_reason(self) -> str:
        """The line under the banner of a finished card, in operator words: the core's sentence
        without its technical tail or step-name prefix; for an ERROR, the step it stopped in first
        (the headline says only what to do). Empty while running and after a PASS."""
        if not self.finished or self.state is CardState.PASS:
            return ""
        text = strip_step_prefix(operator_reason(self.reason), self.failing_step)
        if self.state is CardState.ERROR and self.failing_step:
            title = step_title(self.failing_step, self.titles)
            where = f"While {title[:1].lower()}{title[1:]}"
            return f"{where} — {text}" if text else where
        return text

    def elapsed(self, now: float | None = None) -> float:
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else (time.monotonic() if now is None else now)
        return end - self.started_at

    def accessible_name(self) -> str:
        parts = [self.title or f"Slot {self.slot}", self.state.name.replace("_", " ")]
        if self.headline:
            parts.append(self.headline)
        if self.card_reason():
            parts.append(self.card_reason())
        if self.prompt is not None:
            parts.append(f"question: {self.prompt.question}")
        return ". ".join(parts)

    # ------------------------------------------------------------------ operator
    def set_plan(self, steps: list[tuple[str, str]]) -> None:
        """The steps this slot's run will go through (name, title), from the step catalogue."""
        self.titles.update(dict(steps))
        self.chips = [StepChip(n, t) for n, t in steps]

    def clear(self) -> None:
        """A new unit was fitted or scanned: the last result leaves the screen."""
        self.state = CardState.WAITING
        self.device_id = self.serial_number = self.platform = None
        self.step = self.failing_step = None
        self.step_fraction = None
        self.started_at = self.finished_at = None
        self.headline = self.reason = ""
        self.prompt = None
        self.attempt_id = None
        for c in self.chips:
            c.state, c.seconds = "pending", None

    # ------------------------------------------------------------------ events
    def begin(self, now: float | None = None) -> None:
        """A run starts on this slot (before the device is even connected: the card says so)."""
        self.clear()
        self.state = CardState.RUNNING
        self.started_at = time.monotonic() if now is None else now
        self.headline = "Connecting"

    def step_started(self, name: str) -> None:
        if self.state is not CardState.RUNNING:
            self.begin()
        self.step = name
        self.step_fraction = None
        self.headline = step_title(name, self.titles)
        chip = self._chip(name)
        chip.state = "running"

    def step_progress(self, name: str, fraction: float) -> None:
        if name == self.step:
            # Never backwards within a step: pyocd's phases restart their own 0..1.
            f = min(1.0, max(0.0, fraction))
            self.step_fraction = f if self.step_fraction is None else max(self.step_fraction, f)

    def step_finished(self, name: str, outcome: str, seconds: float | None = None) -> None:
        chip = self._chip(name)
        chip.state = outcome if outcome in ("passed", "failed", "cancelled", "skipped") else "failed"
        chip.seconds = seconds
        if name == self.step and outcome == "passed":
            self.step_fraction = 1.0

    def finish(self, outcome: str, *, failing_step: str | None, reason: str | None,
               station_fault: bool = False, fault: str | None = None, now: float | None = None) -> None:
        """How the attempt ended. ``station_fault`` is the core's word that the station, not the
        unit, failed, and ``fault`` which part of it (it decides; the card only shows it)."""
        self.finished_at = time.monotonic() if now is None else now
        if self.started_at is None:
            self.started_at = self.finished_at
        self.prompt = None
        self.failing_step = failing_step
        self.reason = reason or ""
        self.step_fraction = None
        where = step_title(failing_step, self.titles).lower() if failing_step else ""
        if outcome == "passed":
            self.state, self.headline = CardState.PASS, "Remove the unit"
        elif outcome == "skipped":
            self.state, self.headline = CardState.DONE_BEFORE, "Already provisioned: nothing done"
        elif outcome == "cancelled":
            self.state, self.headline = CardState.STOPPED, "Stopped" + (f" while {where}" if where else "")
        elif station_fault or outcome == "error":
            self.state = CardState.ERROR
            self.headline = error_headline(fault)
        elif fault == "device-gone":
            # the unit left mid-run (unplugged, taken out of the fixture): this unit failed, and
            # the operator sees that nothing else is wrong with it
            self.state = CardState.FAIL
            if failing_step == "connect":  # no answer before anything was done: nothing was taken out
                self.headline = "No unit in fixture"
            else:  # as short as "Failed at: …", so it is drawn as large (one line on a 1366x768 card)
                self.headline = f"Removed at: {step_title(failing_step, self.titles)}" if failing_step \
                    else "Unit removed"
        else:
            self.state = CardState.FAIL
            self.headline = f"Failed at: {step_title(failing_step, self.titles)}" if failing_step else "Failed"
        for c in self.chips:
            if c.state == "running":
                c.state = "failed" if self.state in (CardState.FAIL, CardState.ERROR) else "cancelled"

    def _chip(self, name: str) -> StepChip:
        for c in self.chips:
            if c.name == name:
                return c
        chip = StepChip(name, step_title(name, self.titles))
        self.chips.append(chip)
        return chip

    def apply(self, ev: Any) -> None:
        """Fold one core event into the card (events of one slot arrive in order)."""
        kind = str(getattr(ev, "kind", ""))
        if getattr(ev, "device_id", None):
            self.device_id = ev.device_id
        data = getattr(ev, "data", None) or {}
        if kind == "attempt_started":
            if self.state is not CardState.RUNNING:
                self.begin()
            self.platform = data.get("platform", self.platform)
            self.attempt_id = data.get("attempt_id", self.attempt_id)
            # the profile's functional tests by their titles: "Failed at: Battery voltage"
            self.titles.update({str(t["name"]): str(t["title"]) for t in data.get("tests", ())})
        elif kind == "test_step" and ev.step and data.get("status") == "started" and self.state is CardState.RUNNING:
            self.headline = f"Testing: {step_title(ev.step, self.titles)}"
        elif kind == "step_started" and ev.step:
            self.step_started(ev.step)
        elif kind == "step_progress" and ev.step and ev.fraction is not None:
            self.step_progress(ev.step, ev.fraction)
        elif kind == "step_finished" and ev.step:
            self.step_finished(ev.step, ev.outcome or "passed", data.get("seconds"))
        elif kind == "attempt_finished":
            self.serial_number = data.get("serial_number", self.serial_number)
            self.finish(ev.outcome or "failed", failing_step=ev.step, reason=ev.message,
                        station_fault=bool(data.get("station_fault")), fault=data.get("fault"))
