"""What every device of one run shares: profile, verified firmware, registry handles, operator.

A :class:`Job` is configuration only; what changes while a run goes (cancel flags, which slot
holds which device, results) lives in :mod:`station.pipeline.context` and the run's handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.domain import Outcome
from station.ftest.context import AskOperator, never_answer
from station.pipeline.events import EventSink, null_sink
from station.pipeline.firmware_set import FirmwareSet
from station.profile.model import Profile
from station.store.records import CloudTargets
from station.store.registry import Registry


@dataclass
class Job:
    profile: Profile
    firmware: FirmwareSet
    registry: Registry
    product_id: int
    profile_id: int
    lot_id: int
    lot_name: str
    station: str
    operator: str
    ask_operator: AskOperator = never_answer
    labels_dir: Path | None = None
    #: who confirmed that locked chips may be mass-erased in this run (None: not confirmed)
    recover_confirmed_by: str | None = None
    #: default event sink and operator answers for runs of this job (a run may give its own)
    sink: EventSink = null_sink
    #: seconds to wait for a device to come back (re-enumeration, serial port) after a reset
    settle_timeout: float = 15.0
    #: SWD clock for every probe of the run (station.toml ``[station] swd_frequency``)
    swd_frequency: int = 4_000_000
    #: where each slot's hardware work runs: "thread" (a thread of this process), "process" (a worker
    #: process per slot, :mod:`station.pipeline.slot_worker`) or "auto" (a run's handle picks one from its
    #: slot count and registry, :mod:`station.pipeline.runner`); station.toml ``[station] slot_workers``
    slot_workers: str = "auto"

    @property
    def cloud_targets(self) -> CloudTargets:
        c = self.profile.cloud
        return CloudTargets(
            particle_product=c.particle_product,
            particle_groups=list(c.particle_groups),
            import_sims=c.import_sims,
            claim_user=c.claim_user,
            peridio_product_prn=c.peridio_product_prn,
            peridio_cohort_prn=c.peridio_cohort_prn,
            peridio_tags=list(c.peridio_tags),
        )


@dataclass
class SlotResult:
    slot: str
    transport: str
    device_id: str | None
    outcome: str
    failing_step: str | None = None
    reason: str | None = None
    attempt_id: int | None = None
    #: what an operator reads for ``failing_step``: a test's profile title, else the catalogue's
    failing_step_title: str | None = None
    duration_s: float = 0.0
    #: seconds spent inside hardware work (flash, verify, tests): wall minus this is station overhead
    hardware_s: float = 0.0
    steps: list[tuple[str, str, float]] = field(default_factory=list)  # (name, outcome, seconds)
    labels: list[str] = field(default_factory=list)
    serial_number: str | None = None
    #: what went mid-run, when something did: ``device-gone`` (a ``failed`` unit that left),
    #: ``probe-gone`` / ``registry-unavailable`` / ``internal`` (an ``error``: the station's)
    fault: str | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == Outcome.PASSED

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (``provision --json`` rows, the ``attempt_finished`` event)."""
        return {
            "slot": self.slot,
            "transport": self.transport,
            "device_id": self.device_id,
            "outcome": self.outcome,
            "failing_step": self.failing_step,
            "failing_step_title": self.failing_step_title,
            "reason": self.reason,
            "attempt_id": self.attempt_id,
            "seconds": round(self.duration_s, 3),
            "hardware_seconds": round(self.hardware_s, 3),
            "steps": [{"name": n, "outcome": o, "seconds": round(s, 3)} for n, o, s in self.steps],
            "labels": self.labels,
            "unsafe_to_power": self.unsafe_to_power,
            "fault": self.fault,
        }

    @property
    def unsafe_to_power(self) -> bool:
        """The station lost the device while a power-up would make it connect (issue 10 item 1)."""
        from station.pipeline.power import is_unsafe

        return not self.passed and is_unsafe(self.reason)
