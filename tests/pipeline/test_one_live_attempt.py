"""Issue 10 item 7 through the pipeline: a device with a live attempt elsewhere is refused untouched."""

from __future__ import annotations

import hashlib

from station.sim.bench import Bench
from station.store import open_registry
from station.store.leases import HostIdentity
from station.store.registry import Registry

from .conftest import Line


def test_an_swd_slot_refuses_a_device_a_usb_process_on_another_pc_is_working_on(
        line: Line, bench: Bench, registry: Registry) -> None:
    (twin,) = bench.create(1, seed=71)
    usb_pc = open_registry(str(registry.engine.url))
    usb_pc.host_identity = HostIdentity(host="usb-bench-pc", boot_id="another-boot", pid=777)
    usb_pc.hold_station("usb-bench")
    pid = usb_pc.ensure_product(name="other-line", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = usb_pc.ensure_profile(product_id=pid, path="o.toml", sha256="11" * 32, content="x")
    lot = usb_pc.ensure_lot("USB-LOT", product_id=pid)
    usb_attempt = usb_pc.start_attempt(device_id=twin.device_id, platform="boron", lot_id=lot, profile_id=prof,
                                       station="usb-bench", slot=twin.device_id, operator="u", transport="usb",
                                       overrides=[])
    flash_before = hashlib.sha256(bytes(twin.flash)).hexdigest()
    state_before = twin.state.run_state

    (result,) = line.swd([twin])

    assert result.outcome == "failed" and result.failing_step == "registry-check"
    assert f"already being provisioned by station usb-bench slot {twin.device_id} on host usb-bench-pc" in (
        result.reason or "")
    assert "internal error" not in (result.reason or "")
    # Untouched: nothing written, and not halted (that would break the USB run's tests).
    assert hashlib.sha256(bytes(twin.flash)).hexdigest() == flash_before
    assert twin.state.run_state == state_before
    # The USB process's attempt is still the device's one live attempt; the refusal is audited.
    record = registry.device_record(twin.device_id)
    assert record is not None
    assert [(a.attempt_id, a.outcome) for a in record.attempts] == [(usb_attempt, "running")]
    with registry.reading() as s:
        from sqlalchemy import select

        from station.store.models import AuditEntry
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "attempt-without-device")).all()
    assert [r.device_id for r in rows] == [twin.device_id]
    usb_pc.close()
