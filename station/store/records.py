"""Plain records that cross the registry boundary.

The pipeline, the CLI and the report code exchange these dataclasses instead of ORM objects so
no caller ever holds a session-bound object after its unit of work has closed (a detached ORM
row raises on lazy access from another slot's thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from station.domain import UNSAFE_TO_POWER, Outcome


@dataclass(frozen=True)
class CloudTargets:
    """Where a passed device must be registered, taken from the product profile.

    Both targets are optional: a profile may import into Particle only, Peridio only, or neither
    (a registry-only line). The registration transaction queues one outbox entry per target set.
    """

    particle_product: str | None = None
    particle_groups: list[str] = field(default_factory=list)
    import_sims: bool = False
    claim_user: str | None = None
    peridio_product_prn: str | None = None
    peridio_cohort_prn: str | None = None
    peridio_tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeviceIdentity:
    """What a device reported about itself during an attempt (``None``: not read, keep what is known).

    Passed to ``register_passed`` so the identity lands in the same transaction as the binding:
    a registration that loses a race must not leave another device's serial or ICCID behind.
    """

    serial_number: str | None = None
    imei: str | None = None
    iccid: str | None = None
    device_os_version: str | None = None
    product_firmware_version: str | None = None

    def known(self) -> dict[str, str]:
        """The fields that were read, as Device column values."""
        fields = {"serial_number": self.serial_number, "imei": self.imei, "iccid": self.iccid,
                  "device_os_version": self.device_os_version,
                  "product_firmware_version": self.product_firmware_version}
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class FlashRecord:
    """One module written to a device (``Registry.record_flashes``)."""

    module_sha256: str
    function: int
    index: int
    version: int
    address: int
    role: str


@dataclass(frozen=True)
class MeasurementRecord:
    """One functional-test measurement, as the test step saw it.

    ``value`` holds numbers (so the lot report can aggregate them); ``text`` holds strings
    (firmware version strings, regex-checked replies). Limits are optional: a measurement may be
    checked against ``low``/``high``, against ``expected``/``regex``, or only recorded.
    """

    step: str
    name: str
    passed: bool
    value: float | None = None
    text: str | None = None
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    expected: str | None = None
    regex: str | None = None
    duration_s: float | None = None
    try_number: int = 1


@dataclass(frozen=True)
class DeviceStatus:
    """What the registry knows about a device before the pipeline touches it."""

    device_id: str
    registered_product_id: int | None
    registered_lot_id: int | None
    platform: str | None
    last_outcome: str | None
    attempts: int


@dataclass(frozen=True)
class StartedAttempt:
    """A running attempt just opened, with what the registry knew of its device the moment before.

    Both come from the attempt's one start transaction: the registry check needs the device's
    history, and reading it in a transaction of its own cost every device a round trip (issue 16).
    """

    attempt_id: int
    before: DeviceStatus


@dataclass(frozen=True)
class LotRef:
    """A lot by name, without counting anything (what an export or a report needs to start)."""

    id: int
    name: str
    product: str
    product_id: int
    created: datetime


@dataclass(frozen=True)
class LotSummary:
    """A lot's device counts by each device's latest attempt there.

    ``passed`` counts only devices still registered in this lot; ``reprovisioned`` counts those
    that passed here and were registered into another lot later (history, not shipped here).
    """

    id: int
    name: str
    product: str
    product_id: int
    devices: int
    passed: int
    failed: int
    created: datetime
    reprovisioned: int = 0


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One device of a lot as the manifests export it (latest attempt of that device in the lot)."""

    device_id: str
    serial_number: str | None
    platform: str | None
    product: str
    device_os_version: str | None
    product_firmware_version: str | None
    test_result: str
    provisioned_at: datetime | None
    station: str
    operator: str
    iccid: str | None
    imei: str | None
    attempt_id: int


@dataclass(frozen=True)
class AttemptRecord:
    """An attempt as the lot report needs it: who, in which order, and how it ended."""

    attempt_id: int
    device_id: str
    started_at: datetime
    outcome: str
    failing_step: str | None
    finished_at: datetime | None = None
    #: what went mid-run (``attempts.fault``); one of ``STATION_FAULTS`` makes a failure a station error
    fault: str | None = None


@dataclass(frozen=True)
class MeasurementAggregate:
    """Statistics of one numeric measurement (step, name) over a lot, computed by the database."""

    step: str
    name: str
    unit: str | None
    count: int
    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class LotAggregates:
    """A lot's report inputs, aggregated in SQL so a 100k-device lot never crosses into Python.

    Attempts count in their sequence (``attempts.id``), never by wall-clock time: a clock that
    stepped back must not turn a failed first attempt into a first pass.
    """

    devices: int
    first_pass: int
    final_pass: int
    attempts: int
    failures_by_step: list[tuple[str | None, int]]
    measurements: list[MeasurementAggregate]
    #: first start and last finish of the lot's attempts: the span of its devices per hour
    first_started: datetime | None = None
    last_finished: datetime | None = None
    #: devices by their latest finished attempt: failed units, and station errors (a failed attempt
    #: whose fault is one of ``STATION_FAULTS``: never judged, so neither failed nor in failures)
    failed: int = 0
    errors: int = 0


@dataclass(frozen=True)
class StoredMeasurement:
    """A measurement read back from the registry (for reports and the JSON manifest)."""

    attempt_id: int
    device_id: str
    step: str
    name: str
    value: float | None
    text: str | None
    unit: str | None
    passed: bool
    try_number: int


@dataclass(frozen=True)
class OutboxEntry:
    """A claimed outbox entry: the work a drainer must send, without any credential."""

    id: int
    device_id: str
    target: str  # "particle" | "peridio"
    stage: str  # particle: "import" then "groups"; peridio: "create"
    payload: dict[str, Any]
    tries: int


@dataclass(frozen=True)
class OutboxCounts:
    target: str
    pending: int
    imported: int
    failed: int


@dataclass(frozen=True)
class OutboxRequeue:
    """What ``cloud retry`` did: entries made ready again, by what held them, and those left alone."""

    failed: int = 0  #: parked for attention, now pending again
    waiting: int = 0  #: pending but held back by a server delay or backoff, now ready
    in_flight: int = 0  #: held by a live drainer's lease: left alone (sending them again could duplicate)

    @property
    def requeued(self) -> int:
        return self.failed + self.waiting


@dataclass(frozen=True)
class DeviceAttempt:
    """One attempt in a device's history, as an engineer looking up a scanned label sees it."""

    attempt_id: int
    lot: str
    product: str
    station: str
    slot: str
    operator: str
    transport: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    failing_step: str | None
    reason: str | None


@dataclass(frozen=True)
class DeviceRecord:
    """Everything the registry knows about one device."""

    device_id: str
    platform: str | None
    product: str | None
    lot: str | None
    registered_at: datetime | None
    serial_number: str | None
    imei: str | None
    iccid: str | None
    device_os_version: str | None
    product_firmware_version: str | None
    attempts: list[DeviceAttempt]
    labels: list[str]
    cloud: list[dict[str, object]]
    #: a digital twin produced it (never sent to a real cloud)
    simulated: bool = False

    @property
    def unsafe_to_power(self) -> bool:
        """Its latest finished attempt lost it with the product behind an open boot gate: a power-up
        would make it connect, so it must be re-flashed before it leaves the fixture (issue 10 item 1)."""
        done = [a for a in self.attempts if a.outcome not in (Outcome.RUNNING.value, Outcome.SKIPPED.value)]
        last = max(done, key=lambda a: a.attempt_id, default=None)
        return (last is not None and last.outcome != Outcome.PASSED.value
                and (last.reason or "").startswith(UNSAFE_TO_POWER))

    @property
    def label_missing(self) -> bool:
        """Registered, but no label was recorded: it leaves the line unmarked unless one is printed."""
        return self.product is not None and not self.labels
