"""Helpers for the cloud tests: register passed devices so their outbox entries exist."""

from __future__ import annotations

from station.store import Registry
from station.store.records import CloudTargets


def register_devices(reg: Registry, ids: list[str], cloud: CloudTargets, *, lot: str = "LOT-1",
                     product: str = "widget") -> list[str]:
    pid = reg.ensure_product(name=product, platform="boron", particle_product=cloud.particle_product,
                             peridio_product_prn=cloud.peridio_product_prn)
    prof = reg.ensure_profile(product_id=pid, path="widget.toml", sha256="ab" * 32, content="[product]")
    lot_id = reg.ensure_lot(lot, product_id=pid)
    for did in ids:
        a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot_id, profile_id=prof, station="st1",
                              slot="1", operator="ana", transport="swd", overrides=[])
        reg.register_passed(a, product_id=pid, lot_id=lot_id, cloud=cloud)
    return ids


def device_ids(n: int, start: int = 0) -> list[str]:
    return [f"e00fce68{i:016x}" for i in range(start, start + n)]
