"""Bulk loader for large-lot tests: many passed devices written straight into the registry's own tables."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert

from station.store import Registry
from station.store.models import Attempt, Device


def bulk_lot(registry: Registry, n: int, lot_name: str = "BIG") -> None:
    """Insert ``n`` passed devices straight into the same tables the registration path writes."""
    pid = registry.ensure_product(name="widget", platform="boron", particle_product="widget-1",
                                  peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="78" * 32, content="x")
    lot = registry.ensure_lot(lot_name, product_id=pid)
    t0 = datetime(2026, 1, 1)
    with registry.session() as s:
        s.execute(insert(Device), [
            {"device_id": f"e00fce68{i:016x}", "platform": "boron", "product_id": pid, "lot_id": lot,
             "registrations": 1, "first_seen": t0, "serial_number": f"SN{i:07d}", "device_os_version": "5.3.2"}
            for i in range(n)])
        s.execute(insert(Attempt), [
            {"device_id": f"e00fce68{i:016x}", "lot_id": lot, "profile_id": prof, "station": "st1", "slot": "1",
             "operator": "op", "transport": "swd", "overrides": [], "registrations_seen": 0, "started_at": t0,
             "finished_at": t0 + timedelta(seconds=i), "outcome": "passed"} for i in range(n)])
