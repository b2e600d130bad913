"""Progress events: what a UI (CLI table, GUI with eight bars) needs to follow a run.

Every event names the slot and, once known, the device, so a UI showing several devices knows
which row to move (esptool #1102). Events are plain data; sinks are injected callables called from
the slot's own thread, so the events of one slot arrive in order (``seq`` grows across the
process). A sink that raises is logged and ignored (:func:`guarded`): a broken progress bar must
never fail a device.

What ``data`` carries, per kind:

* ``attempt_started`` (before connect/identify, so a card can say "connecting"): ``transport``,
  ``target`` (probe or device ID), ``platform``, ``steps`` (the catalogue for this run: name,
  title, weight, optional; :mod:`station.pipeline.steps`), ``tests`` (the profile's functional
  tests: name, title);
* ``attempt_recorded``: the registry opened the attempt: ``attempt_id``, ``platform``;
* ``step_started`` / ``step_progress`` (``fraction``) / ``step_finished`` (``outcome``,
  ``message`` = reason): finished carries ``seconds`` and ``details`` (what the step recorded);
* ``test_step``: a functional-test step of the plan (``step`` = its name, ``title`` = what the
  operator reads), ``status`` one of started / passed / failed / cancelled;
* ``measurement``: one reading with its limits (name, value, text, unit, low, high, expected,
  passed, reason, try_number, duration_s);
* ``prompt`` / ``prompt_closed``: an operator question and how it ended (:mod:`station.pipeline.prompts`);
* ``cancel_requested``: someone asked the slot to stop (it stops at its next step boundary);
* ``attempt_finished`` (exactly one per slot run): ``outcome``, ``step`` = failing step,
  ``message`` = reason, ``data["result"]`` = the final slot result (:meth:`SlotResult.to_dict`).
"""

from __future__ import annotations

import enum
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)

_seq = itertools.count(1)


class EventKind(enum.StrEnum):
    ATTEMPT_STARTED = "attempt_started"
    ATTEMPT_RECORDED = "attempt_recorded"
    STEP_STARTED = "step_started"
    STEP_PROGRESS = "step_progress"
    STEP_FINISHED = "step_finished"
    TEST_STEP = "test_step"
    MEASUREMENT = "measurement"
    PROMPT = "prompt"
    PROMPT_CLOSED = "prompt_closed"
    CANCEL_REQUESTED = "cancel_requested"
    ATTEMPT_FINISHED = "attempt_finished"
    LOG = "log"


@dataclass(frozen=True)
class Event:
    #: an :class:`EventKind`; a plain string naming one is converted (front ends' own kinds stay strings)
    kind: EventKind | str
    slot: str
    device_id: str | None = None
    step: str | None = None
    fraction: float | None = None  # 0..1 for step_progress
    outcome: str | None = None  # for *_finished
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    t: float = field(default_factory=time.time)
    seq: int = field(default_factory=lambda: next(_seq))

    def __post_init__(self) -> None:
        if not isinstance(self.kind, EventKind):
            try:
                object.__setattr__(self, "kind", EventKind(self.kind))
            except ValueError:
                pass  # a front end's own kind (``slot_result``, ``device_arrived``): kept as given


EventSink = Callable[[Event], None]


def null_sink(event: Event) -> None:
    """Discard events."""


def guarded(sink: EventSink) -> EventSink:
    """``sink`` such that an exception it raises is logged, never passed to the slot's run."""
    if getattr(sink, "_station_guarded", False):
        return sink

    def call(event: Event) -> None:
        try:
            sink(event)
        except Exception:
            LOG.exception("event handler failed on %s of slot %s (ignored: the run goes on)", event.kind, event.slot)

    call._station_guarded = True  # type: ignore[attr-defined]
    return call
