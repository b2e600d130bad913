"""pyocd's own code paths (session, target detection, flash algorithm, smart flash) against twins."""

from __future__ import annotations

import io
import random
import threading
from pathlib import Path

import pytest
from pyocd.core import exceptions
from pyocd.core.helpers import ConnectHelper
from pyocd.flash.file_programmer import FileProgrammer
from pyocd_session import session

from station.sim.bench import Bench
from station.sim.chip import chip_for
from station.sim.device import Twin


def image(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def test_probe_listing_follows_plugged_and_probe_attached(bench: Bench) -> None:
    a, b, c = bench.create(3, seed=7)
    c.update_state(probe_attached=False)
    b.unplug()
    uids = {p.unique_id for p in ConnectHelper.get_all_connected_probes(blocking=False)}
    assert a.identity.probe_uid in uids
    assert b.identity.probe_uid not in uids and c.identity.probe_uid not in uids


def test_connect_detects_the_nrf52840_and_reads_ficr(twin: Twin, tmp_path: Path) -> None:
    with session(twin, tmp_path, connect_mode="attach") as s:
        assert s.board.target_type == "nrf52840"
        assert s.target.read32(0x10000060) == twin.identity.deviceid0
        assert s.target.read32(0x10000064) == twin.identity.deviceid1
        assert s.target.read32(0x10000100) == 0x52840
        assert not s.target.is_locked()
    assert twin.state.run_state == "dfu"  # attaching did not disturb the (blank) device
    with session(twin, tmp_path):
        pass
    assert twin.state.run_state == "halted"  # pyocd's default connect mode halts the core


def test_program_verify_and_smart_reflash(twin: Twin, tmp_path: Path) -> None:
    data = image(96 * 1024, 1)
    with session(twin, tmp_path) as s:
        FileProgrammer(s).program(io.BytesIO(data), base_address=0x28000, file_format="bin")
        assert bytes(twin.flash[0x28000 : 0x28000 + len(data)]) == data
        assert s.target.read_memory_block8(0x28000 + 0x1234, 16) == list(data[0x1234 : 0x1234 + 16])
        chip = chip_for(twin)
        erases_before = chip.nvmc.stats["page_erases"]
        flash = s.target.memory_map.get_region_for_address(0x28000).flash
        builder = flash.get_flash_builder()
        builder.add_data(0x28000, list(data))
        builder.erase(smart_flash=True)  # what FlashLoader.commit does: erase pass, then program pass
        info = builder.program(smart_flash=True)
        flash.cleanup()
        assert info.skipped_page_count == len(data) // 4096
        assert chip.nvmc.stats["page_erases"] == erases_before
        # one changed byte: exactly one page is rewritten
        changed = bytearray(data)
        changed[5000] ^= 0x5A
        builder = flash.get_flash_builder()
        builder.add_data(0x28000, list(changed))
        builder.erase(smart_flash=True)
        info = builder.program(smart_flash=True)
        flash.cleanup()
        assert info.skipped_page_count == len(data) // 4096 - 1
        assert chip.nvmc.stats["page_erases"] == erases_before + 1
        assert bytes(twin.flash[0x28000 : 0x28000 + len(data)]) == bytes(changed)


def test_halt_reset_and_resume_drive_the_run_state(twin: Twin, tmp_path: Path, demo) -> None:
    demo.install(twin, "user-factory-test")
    with session(twin, tmp_path) as s:
        s.target.halt()
        assert twin.state.run_state == "halted"
        s.target.reset_and_halt()
        assert twin.state.run_state == "halted"
        assert s.target.read_core_register("pc") == int.from_bytes(twin.flash[4:8], "little") & ~1
        s.target.reset()
        assert (twin.state.run_state, twin.state.running_app) == ("running", "factory-test")
    assert twin.events.read()[-1]["cause"] == "swd-reset"


def test_resume_on_disconnect_runs_the_firmware(twin: Twin, tmp_path: Path, demo) -> None:
    """pyocd's default: closing a session lets the core run. With product firmware that connects."""
    demo.install(twin, "user-product")
    with session(twin, tmp_path, resume_on_disconnect=True) as s:
        s.target.reset_and_halt()
        assert "first_connect" not in twin.events.kinds()
    assert (twin.state.run_state, twin.state.running_app) == ("running", "product")
    assert "first_connect" in twin.events.kinds()


def test_locked_chip_is_reported_locked_and_recovered_by_eraseall(bench: Bench, tmp_path: Path) -> None:
    locked = bench.create(1, seed=9, approtect=True)[0]
    key = locked.device_key()
    s = ConnectHelper.session_with_chosen_probe(
        unique_id=locked.identity.probe_uid,
        blocking=False,
        auto_open=False,
        options={"auto_unlock": False, "resume_on_disconnect": False},
        project_dir=str(tmp_path),
        no_config=True,
    )
    # pyocd 0.46 against a locked nRF52 (real or twin): the AHB-AP is disabled, no core is found and
    # the part-info step fails; the CTRL-AP was already found and still answers.
    with pytest.raises(KeyError, match="no selected core"):
        s.open()
    try:
        assert s.target.is_locked()
        assert not s.target.cores
        assert s.target.mass_erase()
    finally:
        s.close()
    with session(locked, tmp_path) as s:
        assert not s.target.is_locked()
        assert s.target.read32(0x10000060) == locked.identity.deviceid0
    assert locked.uicr[0x208] == 0xFF
    assert locked.device_key() == key


def test_auto_unlock_erases_a_locked_chip(bench: Bench, tmp_path: Path) -> None:
    """pyocd's default (auto_unlock on) mass-erases without asking: the twin shows the erase."""
    locked = bench.create(1, seed=10, approtect=True)[0]
    locked.flash[0x28000:0x28004] = b"\0\0\0\0"
    with session(locked, tmp_path, auto_unlock=True) as s:
        assert s.target.read32(0x28000) == 0xFFFFFFFF
    assert "erase_all" in locked.events.kinds()


def test_probe_is_exclusive(twin: Twin, tmp_path: Path) -> None:
    with session(twin, tmp_path):
        with pytest.raises(exceptions.ProbeError, match="already open"):
            with session(twin, tmp_path):
                pass
    with session(twin, tmp_path) as s:  # released on close
        assert s.target.read32(0x10000100) == 0x52840


@pytest.mark.slow
def test_eight_twins_programmed_from_eight_threads(bench: Bench, tmp_path: Path) -> None:
    twins = bench.create(8, seed=11)
    errors: list[BaseException] = []

    def work(i: int, t: Twin) -> None:
        try:
            with session(t, tmp_path) as s:
                FileProgrammer(s).program(io.BytesIO(image(32 * 1024, 100 + i)), base_address=0xB4000, file_format="bin")
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, t)) for i, t in enumerate(twins)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    for i, t in enumerate(twins):
        assert bytes(t.flash[0xB4000 : 0xB4000 + 32 * 1024]) == image(32 * 1024, 100 + i), t.name


def test_a_reset_by_another_face_is_seen_by_the_next_debug_session(twin: Twin, tmp_path: Path, demo) -> None:
    from pyocd.core.target import Target

    from station.sim.boot import boot_device

    demo.install(twin, "user-factory-test")
    with session(twin, tmp_path) as s:
        s.target.halt()
    assert twin.state.run_state == "halted"
    boot_device(twin, cause="usb-reset")  # e.g. the USB face's RESET control request
    with session(twin, tmp_path, connect_mode="attach") as s:
        assert s.target.get_state() == Target.State.RUNNING
    assert twin.state.running_app == "factory-test"


def test_realtime_twin_takes_hardware_time(bench: Bench, tmp_path: Path) -> None:
    rt = Bench(bench.path, realtime=True).create(1, seed=14, prefix="rt")[0]
    assert rt.state.realtime
    start = rt.clock.snapshot()
    with session(rt, tmp_path) as s:
        FileProgrammer(s).program(io.BytesIO(image(8 * 1024, 3)), base_address=0x28000, file_format="bin")
    span = rt.clock.snapshot() - start
    # 2 page erases (170 ms) + 2048 words (84 ms) + SWD traffic at pyocd's default 1 MHz
    assert span.device > 0.25
    assert span.wall >= span.device * 0.97


def test_an_open_that_fails_after_taking_the_lock_gives_it_back(twin: Twin) -> None:
    """A twin whose probe cannot be opened (here: a probe model the twin does not know) must not
    stay locked by nobody: once the cause is fixed, the next open of the same twin works at once."""
    from station.sim.probe import SimProbe

    twin.update_state(probe_model="no-such-probe")
    probe = SimProbe(twin)
    with pytest.raises(ValueError, match="unknown probe model"):
        probe.open()
    assert not probe.is_open
    twin.update_state(probe_model="ideal")
    again = SimProbe(twin)
    again.open()  # before the fix: ProbeError "already open (by another session or process)"
    try:
        assert again.is_open
    finally:
        again.close()
    probe.open()  # and the first object can open too: it holds nothing
    probe.close()
