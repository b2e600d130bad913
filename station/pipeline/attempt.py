"""Step bookkeeping for one provisioning attempt: timing, events, and records in the registry.

The device ID is only known after the ``identify`` step, but the registry files steps under an
attempt of a device. So steps are buffered until :meth:`AttemptRecorder.start` creates the attempt,
then written through; a run that never learns the device ID (locked chip, dead probe) is written
to the audit log instead, so nothing an operator saw is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from station.domain import Outcome
from station.errors import AlreadyDone, Cancelled, StationError, StepFailed
from station.hw.backend import sim_bench_path
from station.pipeline.events import Event, EventKind, EventSink, guarded
from station.store.records import DeviceStatus
from station.store.registry import Registry

LOG = logging.getLogger(__name__)


@dataclass
class StepRecord:
    name: str
    started_at: datetime
    duration_s: float
    outcome: str
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AttemptRecorder:
    def __init__(
        self,
        registry: Registry,
        *,
        slot: str,
        station: str,
        operator: str,
        transport: str,
        sink: EventSink,
        cancel: threading.Event,
    ) -> None:
        self.registry = registry
        self.slot = slot
        self.station = station
        self.operator = operator
        self.transport = transport
        self.sink = guarded(sink)
        self.cancel = cancel
        self.device_id: str | None = None
        self.attempt_id: int | None = None
        self.steps: list[StepRecord] = []
        self._pending: list[StepRecord] = []
        self.started = time.monotonic()

    def emit(self, kind: EventKind, **kw: Any) -> None:
        self.sink(Event(kind=kind, slot=self.slot, device_id=self.device_id, **kw))

    def start(self, *, device_id: str, platform: str, lot_id: int, profile_id: int,
              overrides: list[str]) -> DeviceStatus:
        """Open the attempt; returns what the registry knew of the device just before it (the
        registry check's input, read in the start's own transaction)."""
        self.device_id = device_id
        started = self.registry.open_attempt(
            device_id=device_id,
            platform=platform,
            lot_id=lot_id,
            profile_id=profile_id,
            station=self.station,
            slot=self.slot,
            operator=self.operator,
            transport=self.transport,
            overrides=overrides,
            simulated=sim_bench_path() is not None,
        )
        self.attempt_id = started.attempt_id
        for rec in self._pending:
            self._write(rec)
        self._pending.clear()
        self.emit(EventKind.ATTEMPT_RECORDED, data={"attempt_id": self.attempt_id, "platform": platform})
        return started.before

    def _write(self, rec: StepRecord) -> None:
        assert self.attempt_id is not None
        self.registry.record_step(
            self.attempt_id,
            name=rec.name,
            started_at=rec.started_at,
            duration_s=rec.duration_s,
            outcome=rec.outcome,
            reason=rec.reason,
            details=rec.details or None,
        )

    def _add(self, rec: StepRecord) -> None:
        self.steps.append(rec)
        if self.attempt_id is None:
            self._pending.append(rec)
        else:
            self._write(rec)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled by the operator")
        self.registry.check_available()  # the registry is away: every slot stops at its next step

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a step, emit its events, record it; a station error fails it and raises StepFailed."""
        self.check_cancel()
        details: dict[str, Any] = {}
        started_at = datetime.now(UTC)
        t0 = time.monotonic()
        self.emit(EventKind.STEP_STARTED, step=name)
        try:
            yield details
        except StepFailed:
            raise  # an inner step failed and recorded itself: this one only passes it on
        except StationError as exc:
            # an already provisioned device ends its registry check skipped, not failed
            outcome = (Outcome.CANCELLED if isinstance(exc, Cancelled)
                       else Outcome.SKIPPED if isinstance(exc, AlreadyDone) else Outcome.FAILED)
            rec = StepRecord(name, started_at, time.monotonic() - t0, outcome, str(exc), details)
            self._add(rec)
            self._finished(rec)
            raise StepFailed(name, exc) from exc
        except Exception as exc:  # a bug: record it like a failure so the attempt is closed, then re-raise
            rec = StepRecord(name, started_at, time.monotonic() - t0, Outcome.FAILED, f"internal error: {exc!r}", details)
            self._add(rec)
            self._finished(rec)
            raise
        rec = StepRecord(name, started_at, time.monotonic() - t0, Outcome.PASSED, None, details)
        self._add(rec)
        self._finished(rec)

    def _finished(self, rec: StepRecord) -> None:
        self.emit(EventKind.STEP_FINISHED, step=rec.name, outcome=rec.outcome, message=rec.reason or "",
                  data={"seconds": round(rec.duration_s, 4), "details": _plain(rec.details)})

    def progress(self, step: str) -> Any:
        def cb(done: int, total: int) -> None:
            self.emit(EventKind.STEP_PROGRESS, step=step, fraction=(done / total) if total else 1.0)

        return cb

    def finish(self, outcome: str, failing_step: str | None, reason: str | None, fault: str | None = None) -> None:
        """Close the attempt in the registry (or the audit log); the caller emits ``attempt_finished``.

        ``fault`` goes to the registry because attempts store a station error as ``failed``: it is
        the only record that tells a pulled probe from a unit that failed (issue 12).
        """
        if self.attempt_id is not None:
            self.registry.finish_attempt(self.attempt_id, outcome=outcome, failing_step=failing_step, reason=reason,
                                         fault=fault)
        elif self.steps:
            # No device ID was ever read: keep what happened in the audit log.
            self.registry.audit(
                "attempt-without-device",
                operator=self.operator,
                station=self.station,
                device_id=self.device_id,
                details={
                    "slot": self.slot,
                    "outcome": outcome,
                    "failing_step": failing_step,
                    "reason": reason,
                    "fault": fault,
                    "steps": [{"name": s.name, "outcome": s.outcome, "reason": s.reason} for s in self.steps],
                },
            )


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    """A copy a front end may keep: the step's own dict goes on being its record."""
    return {k: (list(v) if isinstance(v, (list, tuple)) else dict(v) if isinstance(v, dict) else v)
            for k, v in details.items()}
