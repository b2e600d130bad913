"""The whole pipeline over SWD against twins: pyocd programs their flash, pyserial talks to their
factory-test firmware, the registry records everything, and no twin ever connects to the cloud."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.domain import GEN3_ADDR_BOOTLOADER
from station.firmware.base_image import demo_base_image
from station.firmware.cache import FirmwareCache
from station.firmware.demo import build_demo_modules
from station.firmware.module import module_flash_image, parse_module
from station.sim.bench import Bench

from .conftest import HALTED_STATES, Line, drop_tests, never_connected, profile_variant


def _product_image(platform: str = "boron"):  # type: ignore[no-untyped-def]
    data = build_demo_modules(platform)["user-product"]
    return module_flash_image(data, parse_module(data))


def test_two_slots_pass_end_to_end(line: Line, bench: Bench) -> None:
    twins = bench.create(2, seed=11)
    results = line.swd(twins)  # the default runner on purpose: two slots on a registry file get worker processes

    assert [r.outcome for r in results] == ["passed", "passed"], [(r.failing_step, r.reason) for r in results]
    assert {r.device_id for r in results} == {t.device_id for t in twins}
    product = _product_image()
    for twin in twins:
        # The product firmware is what stays in flash; the core is halted; it never connected.
        assert bytes(twin.flash[product.address : product.end]) == product.data
        assert twin.state.run_state in HALTED_STATES
        never_connected(twin)
        # It did run the factory-test firmware (MANUAL mode) for its tests.
        assert any(e.get("running_app") == "factory-test" for e in twin.events.read() if e["kind"] == "boot")

    lot = line.registry.lots()[0]
    assert (lot.devices, lot.passed, lot.failed) == (2, 2, 0)
    rows = line.registry.manifest_rows(lot.name)
    assert {r.device_id for r in rows} == {t.device_id for t in twins}
    assert all(r.serial_number for r in rows), "serial numbers come from the device"
    # Every passed device has its cloud import queued, none sent.
    pending = line.registry.outbox_entries()
    assert {e["device_id"] for e in pending} >= {t.device_id for t in twins}
    # Steps were recorded with durations, in order.
    step_names = [name for name, _, _ in results[0].steps]
    for expected in ("connect", "identify", "registry-check", "flash", "verify", "start-test-firmware",
                     "functional-tests", "flash-final", "verify-final", "secure-state", "register", "label"):
        assert expected in step_names
    assert step_names.index("flash") < step_names.index("functional-tests") < step_names.index("register")
    # Measurements are stored for the report.
    ms = line.registry.lot_measurements(lot.name)
    assert any(m.name == "battery" and m.value is not None and 3.5 <= m.value <= 4.3 for m in ms)
    # Labels exist for both devices.
    assert all(r.labels for r in results)


@pytest.mark.slow
def test_progress_events_name_slot_and_device(line: Line, bench: Bench) -> None:
    twins = bench.create(2, seed=12)
    # slot_workers pinned to thread: a worker relays the same events (test_run_contract.py's two-slot
    # contract test keeps the default's workers); this test is what the events name
    line.swd(twins, slot_workers="thread")
    by_slot: dict[str, set[str | None]] = {}
    for ev in line.events:
        by_slot.setdefault(ev.slot, set()).add(ev.device_id)
    assert set(by_slot) == {"1", "2"}
    flash_progress = [e for e in line.events if e.kind == "step_progress" and e.step == "flash"]
    assert flash_progress and all(e.device_id for e in flash_progress)
    assert max(e.fraction or 0 for e in flash_progress) == 1.0


@pytest.mark.slow
def test_second_scan_of_a_provisioned_device_is_skipped(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=13)[0]
    assert line.swd([twin])[0].outcome == "passed"
    boots = twin.events.kinds().count("boot")
    again = line.swd([twin])[0]
    assert again.outcome == "skipped"
    assert "already provisioned" in (again.reason or "")
    assert twin.events.kinds().count("boot") == boots, "a skipped device is not flashed or reset"
    assert line.registry.device_status(twin.device_id).attempts == 2
    # A third scan is skipped too: the skip itself is not the device's result.
    assert line.swd([twin])[0].outcome == "skipped"
    assert twin.events.kinds().count("boot") == boots
    # The re-scans are history; the device still counts as passed and is in the manifest.
    lot = line.registry.lots()[0]
    assert (lot.devices, lot.passed) == (1, 1)
    assert [r.device_id for r in line.registry.manifest_rows(lot.name)] == [twin.device_id]


def test_device_of_another_product_is_refused_before_flashing(line: Line, bench: Bench, tmp_path: Path) -> None:
    twin = bench.create(1, seed=14)[0]
    assert line.swd([twin])[0].outcome == "passed"
    other = profile_variant(tmp_path, lambda t: t.replace('product = "Demo Boron"', 'product = "Other Product"'))
    before = bytes(twin.flash)
    result = line.swd([twin], profile=other)[0]
    assert result.outcome == "failed"
    assert result.failing_step == "registry-check"
    assert "already registered to another product, 'Demo Boron'" in (result.reason or "")
    assert bytes(twin.flash) == before


def test_locked_chip_is_reported_not_erased(line: Line, bench: Bench) -> None:
    twin = bench.create_one("locked01", approtect=True) if hasattr(bench, "create_one") else None
    assert twin is not None
    boot_sector = bytes(twin.flash[GEN3_ADDR_BOOTLOADER : GEN3_ADDR_BOOTLOADER + 16])
    result = line.swd([twin])[0]
    assert result.outcome == "failed" and result.failing_step == "identify"
    assert "locked" in (result.reason or "")
    assert bytes(twin.flash[GEN3_ADDR_BOOTLOADER : GEN3_ADDR_BOOTLOADER + 16]) == boot_sector
    assert twin.uicr[0x208:0x20C] == b"\x00\x00\x00\x00", "still locked: nobody confirmed a recovery"


@pytest.mark.slow
def test_locked_chip_recovered_when_profile_allows_and_engineer_confirms(
    line: Line, bench: Bench, cache: FirmwareCache, tmp_path: Path
) -> None:
    twin = bench.create_one("locked02", approtect=True)
    # Recovery is ERASEALL: the MBR page and UICR go too, so only a profile with a base image can leave the
    # recovered part bootable (issue 9).
    base = cache.add(demo_base_image(), name="base.hex").sha256
    prof = profile_variant(tmp_path, lambda t: t.replace("allow_recover = false", "allow_recover = true")
                           + f'\n[firmware.base_image]\nsha256 = "{base}"\n')
    refused = line.swd([twin], profile=prof)[0]
    assert refused.failing_step == "identify" and "engineer must confirm" in (refused.reason or "")
    result = line.swd([twin], profile=prof, recover_confirmed_by="eve")[0]
    assert result.outcome == "passed", result.reason
    never_connected(twin)
    # The audit row of the erase names who confirmed it and which device it was (issue 10 item 17).
    rows = line.registry.audit_page(action="recover-locked-chip").rows
    assert [(a.operator, a.device_id, (a.details or {}).get("result")) for a in rows] == [
        ("eve", twin.device_id, "recovered")]


@pytest.mark.slow
def test_out_of_range_measurement_fails_that_step(line: Line, bench: Bench) -> None:
    good, bad = bench.create(2, seed=15)
    bad.set_faults(measurement_overrides={"battery": 2.71})
    # slot_workers pinned to thread: the measurement is judged by the pipeline, the same code in a worker
    # (test_slot_workers.py runs one lot through both runners and compares outcomes and records)
    results = {r.device_id: r for r in line.swd([good, bad], slot_workers="thread")}
    assert results[good.device_id].outcome == "passed"
    r = results[bad.device_id]
    assert r.outcome == "failed" and r.failing_step == "battery"
    assert r.failing_step_title == "Battery voltage"  # the demo profile's title for it
    assert "2.71" in (r.reason or "") and "3.5" in (r.reason or "")
    ms = [m for m in line.registry.lot_measurements(line.registry.lots()[0].name) if m.name == "battery"]
    assert any(m.value == 2.71 and not m.passed for m in ms)
    never_connected(bad)
    # A failed device still ends halted, with no product firmware running.
    assert bad.state.run_state in HALTED_STATES


@pytest.mark.slow
def test_silent_modem_fails_the_modem_step(line: Line, bench: Bench, tmp_path: Path) -> None:
    # The shipped profile gives the modem 10 s twice; a shorter timeout keeps the test quick.
    prof = profile_variant(tmp_path, lambda t: t.replace("timeout = 10.0", "timeout = 1.0"))
    twin = bench.create(1, seed=16)[0]
    twin.set_faults(modem_silent=True)
    r = line.swd([twin], profile=prof)[0]
    assert "no answer" in (r.reason or "") or "timed out" in (r.reason or ""), r.reason
    assert r.outcome == "failed" and r.failing_step == "modem", r.reason
    never_connected(twin)


def test_a_stuck_flash_word_is_caught_by_verify(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=17)[0]
    # (not 0x30000: that page is part of the boot gate, written and verified only in enable-boot)
    twin.set_faults(stuck_word=0x31000)
    r = line.swd([twin])[0]
    assert r.outcome == "failed" and r.failing_step == "verify"
    assert "0x00031000" in (r.reason or "")
    never_connected(twin)


def test_unanswered_operator_question_fails_headless(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=18)[0]
    r = line.swd([twin], ask_operator=lambda step, q, t: None)[0]
    assert r.outcome == "failed" and r.failing_step == "led"
    assert "was not answered within" in (r.reason or "")


def test_profile_without_tests_still_ends_halted(line: Line, bench: Bench, tmp_path: Path) -> None:
    def no_tests(text: str) -> str:
        text = drop_tests(text, "hello", "battery", "vin", "modem", "cellular-ids", "device-id", "versions",
                          "approtect-open", "led-green", "led")
        return text

    prof = profile_variant(tmp_path, no_tests)
    twin = bench.create(1, seed=19)[0]
    r = line.swd([twin], profile=prof)[0]
    assert r.outcome == "passed", r.reason
    assert twin.state.run_state in HALTED_STATES
    never_connected(twin)
    # With nothing to test, the factory-test firmware is never flashed: the product firmware is.
    product = _product_image()
    assert bytes(twin.flash[product.address : product.end]) == product.data
    assert "start-test-firmware" not in [n for n, _, _ in r.steps]
    assert not any(e.get("running_app") == "factory-test" for e in twin.events.read())


@pytest.mark.slow
def test_two_boards_with_one_device_id_are_not_both_provisioned(line: Line, bench: Bench) -> None:
    a = bench.create_one("dup-a", deviceid=(0x11223344, 0x55667788))
    b = bench.create_one("dup-b", deviceid=(0x11223344, 0x55667788))
    assert a.device_id == b.device_id and a.identity.probe_uid != b.identity.probe_uid
    # slot_workers pinned to thread: the same two boards in two workers are
    # test_slot_workers.py::test_two_boards_sharing_an_id_in_two_workers_are_never_both_provisioned
    results = line.swd([a, b], slot_workers="thread")
    # Neither board's result can be trusted: the second is refused at once, the first at registration.
    assert sorted((r.outcome, r.failing_step) for r in results) == [
        ("failed", "register"), ("failed", "registry-check")]
    assert any("share this ID" in (r.reason or "") for r in results)
    assert any("neither is registered" in (r.reason or "") for r in results)
    assert line.registry.device_status(a.device_id).registered_product_id is None
    never_connected(a)
    never_connected(b)


@pytest.mark.slow
def test_silent_serial_port_fails_with_a_clear_reason(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=51)[0]
    twin.set_faults(serial_silent=True)
    r = line.swd([twin])[0]
    assert r.outcome == "failed" and r.failing_step == "start-test-firmware"
    assert "hello" in (r.reason or "") or "answer" in (r.reason or "") or "timed out" in (r.reason or ""), r.reason
    never_connected(twin)


def test_garbled_serial_port_fails_with_a_clear_reason(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=52)[0]
    twin.set_faults(serial_garbled=True)
    r = line.swd([twin])[0]
    assert r.outcome == "failed" and r.failing_step == "start-test-firmware", (r.failing_step, r.reason)
    never_connected(twin)


@pytest.mark.slow
def test_retest_after_a_failure_keeps_history_and_the_report_shows_both_yields(line: Line, bench: Bench) -> None:
    from station.ftest.report import compute_lot_report

    good, weak = bench.create(2, seed=53)
    weak.set_faults(measurement_overrides={"battery": 3.1})
    # slot_workers pinned to thread: the report is read from the registry, which both runners write alike
    first = {r.device_id: r.outcome for r in line.swd([good, weak], slot_workers="thread")}
    assert first == {good.device_id: "passed", weak.device_id: "failed"}
    weak.set_faults(measurement_overrides={})  # the battery was reseated
    assert line.swd([weak])[0].outcome == "passed"
    lot = line.registry.lots()[0].name
    report = compute_lot_report(line.registry.lot_attempts(lot), line.registry.lot_measurements(lot))
    assert (report.devices, report.attempts) == (2, 3)
    assert report.first_pass_yield == 0.5 and report.final_yield == 1.0
    assert report.pareto()[0]["step"] == "battery"
    batteries = [m for m in line.registry.lot_measurements(lot) if m.name == "battery" and m.value is not None]
    stats = next(s for s in report.measurements if s.name == "battery")
    assert stats.count == len(batteries)
    assert stats.min == min(m.value for m in batteries) == 3.1


@pytest.mark.slow
def test_mis_stuffed_board_is_caught_before_product_firmware(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=54)[0]
    twin.set_faults(wrong_platform="argon")
    r = line.swd([twin])[0]
    assert r.outcome == "failed" and r.failing_step == "start-test-firmware"
    assert "platform argon (12)" in (r.reason or "") and "boron (13)" in (r.reason or "")
    product = _product_image()
    assert bytes(twin.flash[product.address : product.end]) != product.data
    never_connected(twin)


@pytest.mark.slow
def test_the_configured_swd_clock_reaches_the_probe(line: Line, bench: Bench) -> None:
    from station.pipeline.line import SlotSpec, run_slots
    from station.sim.probe import SimProbe

    twin = bench.create(1, seed=55)[0]
    seen: list[float] = []
    original = SimProbe.set_clock

    def spy(self, frequency):  # type: ignore[no-untyped-def]
        seen.append(frequency)
        return original(self, frequency)

    SimProbe.set_clock = spy  # type: ignore[method-assign]
    try:
        # slot_workers pinned to thread: the spy replaces a method of the twin's class in this process, which a
        # worker process (a fresh interpreter) would not see.
        job = line.job(swd_frequency=2_000_000, slot_workers="thread")
        from station.domain import Transport

        assert run_slots(job, [SlotSpec("1", Transport.SWD, twin.identity.probe_uid)])[0].outcome == "passed"
    finally:
        SimProbe.set_clock = original  # type: ignore[method-assign]
    assert seen and set(seen) == {2_000_000}


@pytest.mark.slow
def test_swd_faults_fail_one_slot_with_a_clear_reason_and_waits_are_absorbed(line: Line, bench: Bench) -> None:
    healthy, waity, faulty = bench.create(3, seed=56)
    waity.set_faults(swd_wait_rate=0.2)
    faulty.set_faults(swd_fault_rate=0.3)
    # slot_workers pinned to thread: the faults are the twins' (their probe answers WAIT or FAULT), which a
    # worker's pyocd meets the same way
    ok, slow, bad = line.swd([healthy, waity, faulty], slot_workers="thread")  # results come back in slot order
    assert ok.outcome == "passed"
    assert slow.outcome == "passed", slow.reason
    assert bad.outcome == "failed", bad.reason
    assert "SWD transfer fault" in (bad.reason or "") or "did not answer reliably over SWD" in (bad.reason or "")
    assert bad.failing_step in ("connect", "identify", "flash", "verify")
    for twin in (healthy, waity, faulty):
        never_connected(twin)


@pytest.mark.slow
def test_device_os_3_devices_get_the_setup_done_flag(line: Line, bench: Bench) -> None:
    import dataclasses

    from station.domain import Transport
    from station.pipeline.line import SlotSpec, run_slots

    twin = bench.create(1, seed=57)[0]
    job = line.job()
    # The demo firmware is 6.2.0; pretend the profile targets a 3.x line to exercise the rule.
    job.profile = dataclasses.replace(job.profile, device_os_version="3.3.1")
    r = run_slots(job, [SlotSpec("1", Transport.SWD, twin.identity.probe_uid)])[0]
    assert "setup-done" in [n for n, _, _ in r.steps]
    # The twin runs 5.9.0, whose Device OS answers "done" without storing it (config.cpp since 4.0)
    asked = [e for e in twin.events.read() if e["kind"] == "setup_done_request"]
    assert [e["done"] for e in asked] == [True]
    fresh = bench.create(1, seed=58)[0]
    r2 = line.swd([fresh])[0]  # 6.2.0: not needed, not done
    assert "setup-done" not in [n for n, _, _ in r2.steps]
    assert not fresh.state.setup_done


def test_hold_reset_end_state_survives_the_probe_letting_go(line: Line, bench: Bench, tmp_path: Path) -> None:
    from station.sim.chip import chip_for

    prof = profile_variant(tmp_path, lambda t: t.replace('action = "halt"', 'action = "hold-reset"'))
    twin = bench.create(1, seed=59)[0]
    # slot_workers pinned to thread: the fixture's release below goes through this process's model of the
    # twin's chip, the one the run held in reset only when the slot ran in this process.
    r = line.swd([twin], profile=prof, slot_workers="thread")[0]
    assert r.outcome == "passed", r.reason
    assert twin.state.run_state == "reset"
    chip_for(twin).hold_reset(False)  # the fixture releases nRESET after the station is done
    assert twin.state.run_state in HALTED_STATES, "reset vector catch stops the core"
    never_connected(twin)


@pytest.mark.slow
def test_a_label_that_cannot_be_written_does_not_undo_a_registration(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=60)[0]
    line.tmp.joinpath("labels").write_text("not a directory")  # labels_dir is a file
    r = line.swd([twin])[0]
    assert r.outcome == "passed", r.reason
    assert ("label", "failed") in [(n, o) for n, o, _ in r.steps]
    lot = line.registry.lots()[0]
    assert (lot.passed, lot.failed) == (1, 0)
    assert line.registry.device_status(twin.device_id).registered_product_id is not None
