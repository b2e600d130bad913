"""What a station's SWD session does not spend: pyocd's SVD parse, and reading modules back for their CRCs."""

from __future__ import annotations

import zlib

from station.domain import FlashImage
from station.firmware.gen3 import read_flash_modules
from station.hw.swd import PyocdSwdLink
from station.sim.bench import Bench
from station.sim.device import Twin
from tests.hw.conftest import demo_images

ROLES = ("bootloader", "softdevice", "system-part1", "user-factory-test")
RANGES = ((0x28000, 0x8C123), (0xF4000 + 7, 0x3001), (0x1000, 0x400))


def _twin_with_demo_set(bench: Bench, seed: int) -> tuple[Twin, list[FlashImage]]:
    twin = bench.create(1, seed=seed)[0]
    images = [demo_images()[role] for role in ROLES]
    for img in images:
        twin.flash[img.address : img.end] = img.data
    return twin, images


def _counting(link: PyocdSwdLink) -> tuple[list[int], object]:
    seen = [0]
    real = link.read_memory

    def read(address: int, size: int) -> bytes:
        seen[0] += size
        return real(address, size)

    link.read_memory = read  # type: ignore[method-assign]
    return seen, read


def test_a_session_does_not_load_the_svd_file(bench: Bench) -> None:
    twin = bench.create(1, seed=40)[0]
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        assert link.read_device_id() == twin.device_id
        assert link.session.target.svd_device is None  # pyocd would have parsed nrf52840.svd for it


def test_with_the_core_halted_crc32_runs_on_the_target(bench: Bench) -> None:
    twin, _ = _twin_with_demo_set(bench, 41)
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        link.halt()
        seen, _ = _counting(link)
        for start, size in RANGES:
            assert link.crc32(start, size) == zlib.crc32(bytes(twin.flash[start : start + size]))
        assert seen[0] < 8 * 1024  # only the unaligned ends crossed the probe


def test_after_verify_the_versions_scan_reads_headers_only_and_leaves_the_firmware_running(bench: Bench) -> None:
    twin, images = _twin_with_demo_set(bench, 42)
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        link.verify(images)
        link.reset_and_run()
        seen, read = _counting(link)
        mods = read_flash_modules(read, twin.platform.id, crc_of=link.crc32)  # type: ignore[arg-type]
        assert not link.is_halted()
    assert [m.name for m in mods] == ["radio-stack", "system-part1", "user-part", "bootloader"]
    assert all(m.valid for m in mods)
    assert seen[0] < 16 * 1024  # was every module byte (~656 KB for this set)


def test_with_firmware_running_and_nothing_verified_crc32_reads_and_does_not_halt(bench: Bench) -> None:
    twin, _ = _twin_with_demo_set(bench, 43)
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        link.reset_and_run()
        start, size = RANGES[1]
        assert link.crc32(start, size) == zlib.crc32(bytes(twin.flash[start : start + size]))
        assert not link.is_halted()  # the analyzer would have stopped the firmware


def test_a_sector_write_elsewhere_keeps_what_was_verified_known_even_in_pieces(bench: Bench) -> None:
    """The boot gate's way: the set is verified without the gate pages, which are written (sector
    erase) and verified apart. The versions scan after it still reads headers only; a chip erase
    forgets everything."""
    from station.firmware.boot_gate import gate_for
    from station.hw.interfaces import EraseStrategy

    twin, images = _twin_with_demo_set(bench, 44)
    system = next(i for i in images if i.address == 0x28000)
    gate = gate_for(system, lambda a, n: bytes(twin.flash[a : a + n]))
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        link.verify(gate.without_pages(images))
        link.program(gate.open_images, verify=False, erase=EraseStrategy.SECTOR)
        link.verify(gate.open_images)
        link.reset_and_run()
        seen, read = _counting(link)
        mods = read_flash_modules(read, twin.platform.id, crc_of=link.crc32)  # type: ignore[arg-type]
        assert all(m.valid for m in mods) and len(mods) == 4
        assert seen[0] < 16 * 1024
        link.program(gate.closed_images, verify=False, erase=EraseStrategy.SECTOR)
        start, size = RANGES[0]  # the system part now spans an erased gate page: not known, checked
        link.halt()
        assert link.crc32(start, size) == zlib.crc32(bytes(twin.flash[start : start + size]))
