"""Before a device may end its run the station proves it will boot: a blank chip without a base image fails."""

from __future__ import annotations

from pathlib import Path

from station.pipeline.events import Event
from station.sim.bench import Bench
from station.sim.device import Twin

from .conftest import Line, never_connected, profile_variant


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


def _stale_compat_part(twin: Twin) -> None:
    """A valid user part linked for the 128 KB compat slot, which Device OS runs in preference."""
    from station.domain import GEN3_ADDR_LEGACY_USER_PART, ModuleFunction
    from station.firmware.build import build_module

    stale = build_module(
        function=ModuleFunction.USER_PART, index=2, version=6, platform_id=twin.platform.id,
        start=GEN3_ADDR_LEGACY_USER_PART, body=bytes(4000), deps=[(ModuleFunction.SYSTEM_PART, 1, 6200)],
        product_id=twin.platform.id, product_version=1,
    )
    twin.flash[GEN3_ADDR_LEGACY_USER_PART : GEN3_ADDR_LEGACY_USER_PART + len(stale)] = stale


def _not_registered(line: Line, twin: Twin) -> None:
    status = line.registry.device_status(twin.device_id)
    assert status.last_outcome == "failed" and status.registered_product_id is None
    assert twin.device_id not in {e["device_id"] for e in line.registry.outbox_entries()}
    lot = line.registry.lots()[0]
    assert lot.passed == 0 and line.registry.manifest_rows(lot.name) == []


def test_a_part_that_would_run_instead_of_the_factory_test_stops_the_run_before_it_runs(
    line: Line, bench: Bench, tmp_path: Path
) -> None:
    twin = bench.create(1, seed=93)[0]
    _stale_compat_part(twin)  # left by an earlier line: a sector-erase flash does not touch it
    sector = profile_variant(tmp_path, lambda t: t.replace('erase = "auto"', 'erase = "sector"'))
    (r,) = line.swd([twin], profile=sector)
    assert r.outcome == "failed" and r.failing_step == "boot-proof", r.reason
    assert (r.reason or "").startswith("would not run the factory-test firmware:") and "0xD4000" in (r.reason or "")
    assert "start-test-firmware" not in [n for n, _, _ in r.steps]
    _not_registered(line, twin)
    bench.unplug(twin.name)
    bench.plug(twin.name)
    never_connected(twin)
    assert twin.state.run_state == "dfu", "the boot gate stayed closed"


def test_a_device_that_would_not_run_exactly_the_product_is_not_registered(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=94)[0]

    def hook(ev: Event) -> None:
        if ev.kind == "step_finished" and ev.step == "verify-final":
            _stale_compat_part(twin)  # what the product flash and its verify cannot see

    line.hooks.append(hook)
    (r,) = line.swd([twin])
    assert r.outcome == "failed" and r.failing_step == "boot-proof-final", r.reason
    assert (r.reason or "").startswith("would not run the product:"), r.reason
    _not_registered(line, twin)
    bench.unplug(twin.name)
    bench.plug(twin.name)
    never_connected(twin)
    assert twin.state.run_state == "dfu"
