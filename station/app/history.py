"""What the window's History tab and a device's full record read: the registry's read models,
shaped for a front end and free of Qt (the CLI's ``device show`` reads the same registry).

* :func:`page` — one page of attempts, newest first, filtered by a search text (part of a device
  ID or serial number), a result, a lot and a period; keyset-paged, so page 500 costs page 1;
* :func:`full_record` — a device named by an ID, an 8+ hex prefix, a serial number or a scanned
  label, with everything the registry holds about it (every attempt's steps and durations,
  measurements with their limits, flashed modules and labels; its cloud entries and audit rows).

Both run in a worker: the registry may be a PostgreSQL server across the plant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from station.errors import ConfigError


def page(session: Any, *, text: str = "", outcome: str | None = None, lot: str | None = None,
         since_hours: float | None = None, after: Any = None, limit: int = 200) -> tuple[list[Any], Any]:
    """``(rows, next_cursor)`` of the attempts matching the filters; ``next_cursor`` None at the end."""
    from station.store.views import AttemptFilter

    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=since_hours) if since_hours else None
    f = AttemptFilter(lot=lot or None, outcome=outcome or None, started_from=since,
                      text=text.strip() or None)
    p = session.attempts_page(f, after=after, limit=limit)
    return list(p.rows), p.next


@dataclass(frozen=True)
class FullRecord:
    """A device's detail (:class:`station.store.views.DeviceDetail`) and what the lookup noticed."""

    detail: Any
    #: the scanned label does not fit the record, or carries a serial the registry cannot confirm
    note: str | None = None


def full_record(session: Any, text: Any) -> FullRecord:
    """The device ``text`` names, in full; :class:`ConfigError` saying why when it names none.

    ``text`` may be a :class:`station.labels.scan.Scan` (the window's scanner keeps only the parsed
    scan, never the raw text, which may hold a sticker's secret): its serial is then checked against
    the record, so a label stuck on the wrong board says so when it is scanned.
    """
    from station.labels.lookup import serial_mismatch
    from station.labels.scan import Scan

    scan = text if isinstance(text, Scan) else None
    found = session.lookup(scan.key if scan is not None else text)
    note = found.mismatch or found.unconfirmed
    if scan is not None and note is None:
        note = serial_mismatch(scan, found.record)
        if note is None and scan.serial_number and found.record.serial_number is None:
            note = (f"the label says serial {scan.serial_number}; the registry has no serial number for device "
                    f"{found.record.device_id} to check it against")
    detail = session.device_detail(found.record.device_id)
    if detail is None:  # removed between the two reads
        raise ConfigError(f"device {found.record.device_id} is not in the registry")
    return FullRecord(detail, note)


def label_for(session: Any, device_id: str, profile: Any) -> tuple[Any, Any]:
    """``(LabelData, template)`` of a reprint: the registry's serial, lot, IMEI/ICCID and date (what
    the original carried, so the QR is the same), the profile's template. Refused for a device the
    registry does not hold: a label for it would name a unit nobody provisioned."""
    from station.labels.data import LabelData

    rec = session.device_record(device_id)
    if rec is None:
        raise ConfigError(f"device {device_id} is not in the registry: no label is printed for it")
    info = LabelData(rec.device_id, serial_number=rec.serial_number, product=profile.product,
                     platform=rec.platform or profile.platform.name, profile=profile.name, imei=rec.imei,
                     iccid=rec.iccid, lot=rec.lot, date=f"{rec.registered_at:%Y-%m-%d}" if rec.registered_at else None)
    return info, profile.label


def record_reprint(session: Any, device_id: str, *, where: str, fmt: str, operator: str | None,
                   profile: str | None = None) -> None:
    """A reprint's label row and audit entry, as ``station label`` records one."""
    session.registry.record_label(device_id, None, path=where, fmt=fmt)
    session.registry.audit("label-reprint", operator=operator or "(nobody)", station=session.station,
                           device_id=device_id, details={"path": where, "format": fmt, "profile": profile})
