"""Before a device may end its run the station proves it will boot: a blank chip without a base image fails."""

from __future__ import annotations

from station.sim.bench import Bench

from .conftest import Line, never_connected


def test_stock_device_is_proven_bootable_twice(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=91)[0]
    (result,) = line.swd([twin])
    assert result.outcome == "passed", result.reason
    names = [name for name, _, _ in result.steps]
    assert names.index("verify") < names.index("boot-proof") < names.index("start-test-firmware")
    assert names.index("verify-final") < names.index("boot-proof-final") < names.index("secure-state")
    never_connected(twin)


def test_blank_chip_without_a_base_image_would_not_boot_and_never_passes(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=92, blank=True)[0]
    (result,) = line.swd([twin])
    assert result.outcome == "failed" and result.failing_step == "boot-proof"
    assert (result.reason or "").startswith("would not boot:") and "MBR" in (result.reason or "")
    assert "start-test-firmware" not in [name for name, _, _ in result.steps], "nothing ran on it"
    status = line.registry.device_status(twin.device_id)
    assert status.attempts == 1 and status.last_outcome == "failed" and status.registered_product_id is None
    lot = line.registry.lots()[0]
    assert (lot.devices, lot.passed) == (1, 0)
    assert line.registry.manifest_rows(lot.name) == []
    assert twin.device_id not in {e["device_id"] for e in line.registry.outbox_entries()}
    never_connected(twin)
