"""Write-behind journal of an attempt's records: one transaction per device state change.

A provisioned device used to cost ~38 write transactions (every step, measurement, flash record
and label on its own), each a ``BEGIN IMMEDIATE`` + fsync on SQLite or a round trip and a WAL
flush on PostgreSQL. Steps, measurements, flash records and labels of an attempt this registry
object opened are instead kept here, in memory, and written in the transaction of the attempt's
next *state change*:

* the device's firmware changed (``record_flashes``: the flash records and everything before);
* the attempt ended (``finish_attempt``) or registered (``register_passed``);
* the attempt's work is over (``end_attempt``: what came after registration, e.g. labels).

So a passed device is five transactions: started, flashed, flashed final, registered, ended.

What that trades: a process killed between two state changes loses the steps and measurements
since the last one (its attempt is then closed as abandoned at the next start, as before; what it
flashed is on record). A registry that fails mid-run keeps the journal: the records are written
by the next flush that succeeds, never half.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from station.store.models import Flash, Label, Measurement, Step


@dataclass
class _Pending:
    device_id: str
    lot_id: int
    rows: dict[type, list[dict[str, Any]]] = field(default_factory=dict)


_ORDER = (Step, Measurement, Flash, Label)

#: An ORM bulk INSERT leaves out the columns a row has as None and sends one statement per
#: pattern of Nones: a device's 16 measurements (numbers, texts, limits or none) went as 7
#: statements, each a round trip on PostgreSQL. ``render_nulls`` writes them as NULLs in one
#: (same rows: these tables have no server defaults). Steps keep the omission: None details in
#: a JSON column would be stored as JSON ``null`` rather than SQL NULL.
_INSERTS = {Step: insert(Step), Measurement: insert(Measurement).execution_options(render_nulls=True),
            Flash: insert(Flash).execution_options(render_nulls=True),
            Label: insert(Label).execution_options(render_nulls=True)}


class AttemptJournal:
    """Pending rows per attempt; safe to share between slot threads (one attempt per slot)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}

    def open(self, attempt_id: int, *, device_id: str, lot_id: int) -> None:
        with self._lock:
            self._pending[attempt_id] = _Pending(device_id, lot_id)

    def owner(self, attempt_id: int) -> tuple[str, int] | None:
        """(device ID, lot ID) of a journaled attempt, or None if this object does not journal it."""
        with self._lock:
            p = self._pending.get(attempt_id)
            return (p.device_id, p.lot_id) if p else None

    def add(self, attempt_id: int, model: type, values: dict[str, Any]) -> bool:
        """Queue a row; False when the attempt is not journaled here (the caller writes through)."""
        with self._lock:
            p = self._pending.get(attempt_id)
            if p is None:
                return False
            p.rows.setdefault(model, []).append(values)
            return True

    def write(self, s: Session, attempt_id: int) -> dict[type, int]:
        """Insert the attempt's pending rows in ``s``'s transaction. They stay pending until
        :meth:`committed` is told what was written (a rolled-back transaction keeps them all for
        the next flush)."""
        with self._lock:
            p = self._pending.get(attempt_id)
            batches = [(m, list(p.rows.get(m, ()))) for m in _ORDER] if p else []
        written: dict[type, int] = {}
        for model, rows in batches:
            if rows:
                s.execute(_INSERTS[model], rows)
                written[model] = len(rows)
        return written

    def committed(self, attempt_id: int, written: dict[type, int], *, close: bool = False) -> None:
        with self._lock:
            p = self._pending.get(attempt_id)
            if p is None:
                return
            for model, n in written.items():
                del p.rows[model][:n]
            if close:
                del self._pending[attempt_id]

    def attempts(self) -> list[int]:
        with self._lock:
            return list(self._pending)

    def pending_rows(self, attempt_id: int) -> int:
        with self._lock:
            p = self._pending.get(attempt_id)
            return sum(len(r) for r in p.rows.values()) if p else 0
