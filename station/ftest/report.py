"""Lot report: yields, the failure Pareto and measurement statistics, computed from records.

:func:`lot_report` asks the registry to aggregate a lot in SQL (a 100k-device lot holds 1.6 M
measurement rows; none of them crosses into Python); :func:`compute_lot_report` is the same
definition as a pure function over records, for hand-made data. Both give the CLI, the GUI and an
export the same numbers.

Definitions (the ones a production engineer expects):

* devices attempted: devices with at least one *finished* attempt in the lot (attempts still
  running are in flight, not a result yet);
* attempts are ordered by their sequence (the registry's attempt id), never by wall-clock time:
  a station clock stepped back must not make a reworked board's passing attempt its first;
* failed and station errors: devices whose latest finished attempt did not pass, split by its
  ``fault``: one of ``STATION_FAULTS`` (the probe went, the registry was away, a station bug) is a
  station error, the station's fault and not the unit's; anything else is a failed unit (the lot
  view's "Failed" and "Station errors");
* first-pass yield: devices whose first judged attempt passed (the first finished one that is not a
  station error: a run that lost its worker or its probe judged nothing) / devices judged (attempted
  less those whose latest attempt is a station error: such a unit was never judged);
* final yield: devices whose latest finished attempt passed / devices attempted;
* failures by step: every failed attempt counted once under its failing step, most frequent first,
  leaving out the station errors;
* measurement statistics: numeric values only, grouped by (step, name);
* devices per hour: devices attempted / hours from the lot's first attempt start to its last
  attempt finish (the lot panel's figure; wall clock, so only as good as the station clocks).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from station.domain import STATION_FAULTS, Outcome
from station.store.records import AttemptRecord, LotAggregates, StoredMeasurement
from station.store.registry import Registry

UNKNOWN_STEP = "(no step recorded)"


@dataclass(frozen=True)
class MeasurementStats:
    step: str
    name: str
    unit: str | None
    count: int
    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class LotReport:
    devices: int
    first_pass: int
    final_pass: int
    attempts: int
    failures_by_step: list[tuple[str, int]] = field(default_factory=list)
    measurements: list[MeasurementStats] = field(default_factory=list)
    first_started: datetime | None = None
    last_finished: datetime | None = None
    #: devices whose latest finished attempt failed: units (``failed``) and station errors (``errors``)
    failed: int = 0
    errors: int = 0

    @property
    def judged(self) -> int:
        return self.devices - self.errors

    @property
    def devices_per_hour(self) -> float | None:
        if not self.first_started or not self.last_finished or not self.devices:
            return None
        hours = (self.last_finished - self.first_started).total_seconds() / 3600
        return self.devices / hours if hours > 0 else None

    @property
    def first_pass_yield(self) -> float | None:
        return self.first_pass / self.judged if self.judged > 0 else None

    @property
    def final_yield(self) -> float | None:
        return self.final_pass / self.devices if self.devices else None

    def pareto(self) -> list[dict[str, Any]]:
        """Failures by step with each step's share and the running total, as a Pareto chart reads."""
        total = sum(n for _, n in self.failures_by_step)
        rows, running = [], 0
        for step, n in self.failures_by_step:
            running += n
            rows.append({"step": step, "count": n, "share": n / total, "cumulative": running / total})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "attempts": self.attempts,
            "first_pass": self.first_pass,
            "final_pass": self.final_pass,
            "failed": self.failed,
            "errors": self.errors,
            "first_pass_yield": self.first_pass_yield,
            "final_yield": self.final_yield,
            "devices_per_hour": self.devices_per_hour,
            "failures_by_step": self.pareto(),
            "measurements": [asdict(m) for m in self.measurements],
        }


def lot_report(registry: Registry, lot: str) -> LotReport:
    """The report of ``lot`` (by name), aggregated by the registry database."""
    return report_from_aggregates(registry.lot_aggregates(lot))


def report_from_aggregates(agg: LotAggregates) -> LotReport:
    failures: Counter[str] = Counter()
    for step, n in agg.failures_by_step:
        failures[step or UNKNOWN_STEP] += n
    return LotReport(
        devices=agg.devices,
        first_pass=agg.first_pass,
        final_pass=agg.final_pass,
        attempts=agg.attempts,
        failures_by_step=sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])),
        measurements=[MeasurementStats(step=m.step, name=m.name, unit=m.unit, count=m.count, mean=m.mean,
                                       min=m.min, max=m.max) for m in agg.measurements],
        first_started=agg.first_started,
        last_finished=agg.last_finished,
        failed=agg.failed,
        errors=agg.errors,
    )


def compute_lot_report(
    attempts: Iterable[AttemptRecord], measurements: Iterable[StoredMeasurement]
) -> LotReport:
    attempts = list(attempts)
    starts = [a.started_at for a in attempts]
    ends = [a.finished_at for a in attempts if a.finished_at is not None]
    finished = sorted(
        # skipped = a re-scan of a device already done: history, not a result
        (a for a in attempts if a.outcome not in (Outcome.RUNNING.value, Outcome.SKIPPED.value)),
        key=lambda a: a.attempt_id,  # the sequence, never the wall clock
    )
    first: dict[str, str] = {}
    last: dict[str, AttemptRecord] = {}
    failures: Counter[str] = Counter()
    for a in finished:
        if not _station_error(a):  # a station error judged nothing: the retry is the unit's first pass
            first.setdefault(a.device_id, a.outcome)
        last[a.device_id] = a
        if a.outcome == Outcome.FAILED.value and not _station_error(a):
            failures[a.failing_step or UNKNOWN_STEP] += 1
    passed = Outcome.PASSED.value
    errors = sum(1 for a in last.values() if _station_error(a))
    return LotReport(
        devices=len(last),
        first_pass=sum(1 for o in first.values() if o == passed),
        final_pass=sum(1 for a in last.values() if a.outcome == passed),
        failed=sum(1 for a in last.values() if a.outcome != passed) - errors,
        errors=errors,
        attempts=len(finished),
        failures_by_step=sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])),
        measurements=_measurement_stats(measurements),
        first_started=min(starts, default=None),
        last_finished=max(ends, default=None),
    )


def _station_error(a: AttemptRecord) -> bool:
    return a.outcome == Outcome.FAILED.value and a.fault in STATION_FAULTS


def _measurement_stats(measurements: Iterable[StoredMeasurement]) -> list[MeasurementStats]:
    values: dict[tuple[str, str], list[float]] = {}
    units: dict[tuple[str, str], Counter[str]] = {}
    for m in measurements:
        if m.value is None:
            continue
        key = (m.step, m.name)
        values.setdefault(key, []).append(float(m.value))
        if m.unit:
            units.setdefault(key, Counter())[m.unit] += 1
    out = []
    for key in sorted(values):
        vs = values[key]
        unit = min(units[key].items(), key=lambda kv: (-kv[1], kv[0]))[0] if key in units else None
        out.append(
            MeasurementStats(
                step=key[0],
                name=key[1],
                unit=unit,
                count=len(vs),
                mean=sum(vs) / len(vs),
                min=min(vs),
                max=max(vs),
            )
        )
    return out
