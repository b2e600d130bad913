"""The flash algorithm stays loaded across a session's operations, and is loaded again whenever it may not be there.

Through real pyocd against twins: what a user sees is the device's flash (every image where it belongs,
every CRC right) and how often the station wrote the algorithm into target RAM (each load is a halt,
a RAM write and an ``Init()`` call: ~70 requests to a remote probe server).
"""

from __future__ import annotations

import zlib

import pytest

from station.domain import FlashImage
from station.hw.interfaces import EraseStrategy
from station.hw.swd import PyocdSwdLink
from station.hw.swd.algo import KeptFlash, init_is_noop
from station.sim.bench import Bench
from station.sim.device import Twin
from tests.hw.conftest import demo_images

pytestmark = pytest.mark.timeout(60)

ALGO_RAM = 0x20000000  # the nRF52840 algorithm's load address (pyocd target_nRF52840_xxAA.py)
#: flash no image covers (between the system part and the user part): its CRC is computed on the
#: target, never taken from what the session verified
UNWRITTEN = (0xC0000, 0x2000)


def full_set() -> list[FlashImage]:
    imgs = demo_images()
    return [imgs[r] for r in ("bootloader", "softdevice", "system-part1", "user-factory-test")]


def in_flash(twin: Twin, img: FlashImage) -> bool:
    return bytes(twin.flash[img.address : img.end]) == img.data


def flash_of(link: PyocdSwdLink) -> KeptFlash:
    flash = link.session.target.memory_map.get_region_for_address(0).flash
    assert isinstance(flash, KeptFlash)
    return flash


def test_one_session_loads_the_algorithm_once_for_program_verify_crcs_and_a_reflash(bench: Bench) -> None:
    (twin,) = bench.create(1, seed=71, blank=True)
    imgs = demo_images()
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        flash = flash_of(link)
        uicr = link.session.target.memory_map.get_region_for_address(0x10001000).flash
        assert isinstance(uicr, KeptFlash)  # pyocd builds one flash object per region
        report = link.program(full_set())  # erase decision CRCs, erase-all, program, verify CRCs
        assert report.verified and report.erase_strategy == "chip"
        product = imgs["user-product"]
        link.program([product], erase=EraseStrategy.SECTOR)  # smart CRCs, sector erase, program, verify
        link.halt()
        start, size = 0x28000 + 7, 0x3001
        assert link.crc32(start, size) == zlib.crc32(bytes(twin.flash[start : start + size]))
        assert flash.loads == 1
        assert flash.kept_inits >= 6  # every init after the first: CRCs, erases, programs, verifies
    assert all(in_flash(twin, img) for img in (*full_set()[:3], product))


def test_firmware_run_or_reset_between_operations_loads_it_again_and_flashing_still_verifies(bench: Bench) -> None:
    (twin,) = bench.create(1, seed=72)
    imgs = demo_images()
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        flash = flash_of(link)
        link.program(full_set())
        assert flash.loads == 1
        link.reset_and_run()  # the factory-test firmware runs and may use all of RAM
        link.halt()
        report = link.program([imgs["user-product"]], erase=EraseStrategy.SECTOR)
        assert report.verified and flash.loads == 2
        link.reset_and_halt()
        start, size = UNWRITTEN
        assert link.crc32(start, size) == zlib.crc32(bytes(twin.flash[start : start + size]))  # on the target
        assert flash.loads == 3
    assert in_flash(twin, imgs["user-product"])


def test_an_algorithm_overwritten_in_ram_is_noticed_and_loaded_again(bench: Bench) -> None:
    """Nothing pyocd sees ran the core, yet the code is gone (a DMA a firmware left running, another tool)."""
    (twin,) = bench.create(1, seed=73)
    imgs = demo_images()
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        flash = flash_of(link)
        link.program(full_set())
        link.session.target.write_memory_block32(ALGO_RAM, [0] * 64)
        report = link.program([imgs["user-product"]], erase=EraseStrategy.SECTOR)
        assert report.verified and flash.loads == 2
    assert in_flash(twin, imgs["user-product"])


def test_a_reset_pyocd_does_not_see_is_forgotten_by_the_station(bench: Bench) -> None:
    """nRESET held by the probe bypasses pyocd's target API (its run token). (The CTRL-AP's reset in
    lock_and_prove forgets the same way; no test drives it here.)"""
    (twin,) = bench.create(1, seed=74)
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        flash = flash_of(link)
        link.program(full_set())
        link.hold_in_reset()
        link.session.probe.assert_reset(False)
        link.halt()
        assert flash._kept_token is None
        start, size = UNWRITTEN
        assert link.crc32(start, size) == zlib.crc32(bytes(twin.flash[start : start + size]))
        assert flash.loads == 2


def test_init_is_skipped_only_for_an_algorithm_whose_init_provably_does_nothing() -> None:
    from pyocd.target.builtin.target_nRF52840_xxAA import FLASH_ALGO

    assert init_is_noop(FLASH_ALGO)  # Init() is MOVS r0, #0; BX LR and there is no UnInit()
    with_uninit = {**FLASH_ALGO, "pc_unInit": FLASH_ALGO["pc_init"] + 8}
    assert not init_is_noop(with_uninit)
    real_init = {**FLASH_ALGO, "pc_init": FLASH_ALGO["pc_eraseAll"]}  # a routine that does work
    assert not init_is_noop(real_init)
