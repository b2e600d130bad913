"""Export fixtures: a registry with a lot of passed and failed devices, and a bulk loader for 100k."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from station.store import Registry
from station.store.records import CloudTargets, MeasurementRecord


@pytest.fixture
def small_lot(registry: Registry) -> dict[str, str]:
    """Lot L1: three passed devices (one after a failed first try), one failed. Returns id → result."""
    cloud = CloudTargets(particle_product="widget-1", peridio_product_prn="prn:1:org:product:widget",
                         peridio_cohort_prn="prn:1:org:cohort:eu", peridio_tags=["factory", "eu"])
    pid = registry.ensure_product(name="widget", platform="boron", particle_product="widget-1",
                                  peridio_product_prn="prn:1:org:product:widget")
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="56" * 32, content="x")
    lot = registry.ensure_lot("L1", product_id=pid)
    results = {}
    for i, plan in enumerate(["pass", "fail-then-pass", "fail", "pass"]):
        did = f"e00fce68{i:016x}"
        tries = ["fail", "pass"] if plan == "fail-then-pass" else [plan]
        for t in tries:
            a = registry.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="st1",
                                       slot=str(i), operator="ana", transport="swd", overrides=[])
            registry.record_step(a, name="flash", started_at=datetime.now(UTC), duration_s=2.5, outcome="passed")
            registry.record_measurement(a, MeasurementRecord(step="test", name="vbat", passed=t == "pass",
                                                             value=3.7 if t == "pass" else 2.9, unit="V"))
            registry.record_identity(did, serial_number=f"SN{i}", imei=f"35{i:013d}", iccid=f"89{i:018d}",
                                     device_os_version="5.3.2", product_firmware_version="7")
            if t == "pass":
                registry.register_passed(a, product_id=pid, lot_id=lot, cloud=cloud)
            else:
                registry.finish_attempt(a, outcome="failed", failing_step="test", reason="vbat low")
        results[did] = "passed" if tries[-1] == "pass" else "failed"
    return results
