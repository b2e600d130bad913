"""Progress events: what a UI (CLI table, GUI with eight bars) needs to follow a run.

Every event names the slot and, once known, the device, so a UI showing several devices knows
which row to move (esptool #1102). Events are plain data; sinks are injected callables.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    kind: str  # "attempt_started" | "step_started" | "step_progress" | "step_finished" | "attempt_finished" | "log"
    slot: str
    device_id: str | None = None
    step: str | None = None
    fraction: float | None = None  # 0..1 for step_progress
    outcome: str | None = None  # for *_finished
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    t: float = field(default_factory=time.time)


EventSink = Callable[[Event], None]


def null_sink(event: Event) -> None:
    """Discard events."""
