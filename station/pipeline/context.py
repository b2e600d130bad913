"""What one slot's run has of its own (cancel, events, operator prompts) and what the slots of a
run share at run time (which device each is working on).

:class:`~station.pipeline.job.Job` is configuration only — profile, firmware, registry handles,
operator — so one job can serve any number of runs; everything that changes while a run goes lives
here and in :class:`~station.pipeline.handle.RunHandle`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from station.ftest.context import AskOperator
from station.pipeline.events import EventSink, guarded

if TYPE_CHECKING:
    from station.pipeline.job import Job


class DeviceClaims:
    """Which slot is working on which device ID, across the slots of one run (or bench session)."""

    def __init__(self) -> None:
        self._active: dict[str, str] = {}
        self._tainted: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, device_id: str, slot: str) -> str | None:
        """Mark a device as being worked on by ``slot``; returns the other slot if one already is.

        Two slots reading the same ID in one run means two boards share an ID (a cloned or
        mis-programmed FICR) — or one board is wired to two fixtures; either way neither result
        could be trusted to belong to the right board.
        """
        with self._lock:
            other = self._active.get(device_id)
            if other is not None and other != slot:
                self._tainted.add(device_id)  # the slot already working on it must not register it either
                return other
            self._active[device_id] = slot
            return None

    def is_tainted(self, device_id: str) -> bool:
        """Another board reported this ID during the run: no result for it can be trusted."""
        with self._lock:
            return device_id in self._tainted

    def release(self, device_id: str, slot: str) -> None:
        with self._lock:
            if self._active.get(device_id) == slot:
                del self._active[device_id]


@dataclass
class SlotContext:
    """One slot's run-time companions: its own cancel, its event sink, its operator prompts."""

    slot: str
    cancel: threading.Event = field(default_factory=threading.Event)
    claims: DeviceClaims = field(default_factory=DeviceClaims)
    sink: EventSink | None = None
    ask_operator: AskOperator | None = None
    #: who confirmed, for this slot only, that a locked chip may be mass-erased (else the job's)
    recover_confirmed_by: str | None = None

    @classmethod
    def solo(cls, job: Job, slot: str) -> SlotContext:
        """A context for a run of one slot outside any handle (tests, scripts)."""
        return cls(slot=slot, sink=job.sink, ask_operator=job.ask_operator)

    def events(self, job: Job) -> EventSink:
        return guarded(self.sink if self.sink is not None else job.sink)

    def asker(self, job: Job) -> AskOperator:
        return self.ask_operator if self.ask_operator is not None else job.ask_operator
