"""What every device of one run shares: profile, verified firmware, registry handles, operator."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

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
    sink: EventSink = null_sink
    cancel: threading.Event = field(default_factory=threading.Event)
    #: seconds to wait for a device to come back (re-enumeration, serial port) after a reset
    settle_timeout: float = 15.0
    #: SWD clock for every probe of the run (station.toml ``[station] swd_frequency``)
    swd_frequency: int = 4_000_000

    def __post_init__(self) -> None:
        self._active: dict[str, str] = {}
        self._tainted: set[str] = set()
        self._active_lock = threading.Lock()

    def claim_device(self, device_id: str, slot: str) -> str | None:
        """Mark a device as being worked on by ``slot``; returns the other slot if one already is.

        Two slots reading the same ID in one run means two boards share an ID (a cloned or
        mis-programmed FICR) — or one board is wired to two fixtures; either way neither result
        could be trusted to belong to the right board.
        """
        with self._active_lock:
            other = self._active.get(device_id)
            if other is not None and other != slot:
                self._tainted.add(device_id)  # the slot already working on it must not register it either
                return other
            self._active[device_id] = slot
            return None

    def is_tainted(self, device_id: str) -> bool:
        """Another board reported this ID during the run: no result for it can be trusted."""
        with self._active_lock:
            return device_id in self._tainted

    def release_device(self, device_id: str, slot: str) -> None:
        with self._active_lock:
            if self._active.get(device_id) == slot:
                del self._active[device_id]

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
    duration_s: float = 0.0
    #: seconds spent inside hardware work (flash, verify, tests): wall minus this is station overhead
    hardware_s: float = 0.0
    steps: list[tuple[str, str, float]] = field(default_factory=list)  # (name, outcome, seconds)
    labels: list[str] = field(default_factory=list)
    serial_number: str | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == Outcome.PASSED
