"""Consecutive flash pages programmed with one algorithm call per run, only where that is proven safe.

Through real pyocd against twins: what a user sees is the device's flash (every byte, and the verify's
verdict, the same as page by page), how many ProgramPage calls the station made (counted where pyocd
makes them, ``Flash._call_function``; each is ~70 requests to a remote probe server), and which
station error a device that breaks mid-run produces. The plan's RAM and code checks are unit tests on
pyocd's own algorithm dicts and altered copies of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pyocd.target.builtin.target_nRF52832_xxAA import FLASH_ALGO as NRF52832_ALGO
from pyocd.target.builtin.target_nRF52840_xxAA import FLASH_ALGO as NRF52840_ALGO

from station.domain import NRF_PAGE_SIZE, FlashImage
from station.errors import DeviceGone, VerifyError
from station.hw.interfaces import EraseStrategy
from station.hw.swd import PyocdSwdLink
from station.hw.swd.algo import KeptFlash
from station.hw.swd.runs import (
    ANALYZER_SIZE,
    NRF52_PROGRAM_PAGE,
    RunPlan,
    plan_runs,
    program_page_is_word_loop,
)
from station.sim.bench import Bench
from station.sim.device import Twin
from tests.hw.conftest import demo_images

pytestmark = pytest.mark.timeout(120)

RAM = (0x20000000, 0x20040000)  # the nRF52840's 256 KB (pyocd's memory map for it)
#: pyocd's flash.timeout.program default and its default program_page_weight (seconds)
TIMEOUT, WEIGHT = 10.0, 0.130


def full_set() -> list[FlashImage]:
    imgs = demo_images()
    return [imgs[r] for r in ("bootloader", "softdevice", "system-part1", "user-factory-test")]


def uid(twin: Twin) -> str:
    return twin.identity.probe_uid


def flash_of(link: PyocdSwdLink) -> KeptFlash:
    flash = link.session.target.memory_map.get_region_for_address(0).flash
    assert isinstance(flash, KeptFlash)
    return flash


@contextmanager
def program_calls(flash: KeptFlash) -> Iterator[list[tuple[int, int, int]]]:
    """Every ProgramPage call pyocd makes for ``flash``: (flash address, size, RAM buffer)."""
    calls: list[tuple[int, int, int]] = []
    plain = flash._call_function
    pc = flash.flash_algo["pc_program_page"]

    def counted(p: int, r0: Any = None, r1: Any = None, r2: Any = None, r3: Any = None, init: bool = False) -> None:
        if p == pc:
            calls.append((r0, r1, r2))
        plain(p, r0, r1, r2, r3, init)

    flash._call_function = counted
    try:
        yield calls
    finally:
        flash._call_function = plain


def with_words(algo: dict[str, Any], **changed_bytes: int) -> dict[str, Any]:
    """A copy of ``algo`` with bytes changed at offsets from ``pc_program_page`` (``at_0x10=0x00``)."""
    code = bytearray(b"".join(int(w).to_bytes(4, "little") for w in algo["instructions"]))
    base = (algo["pc_program_page"] & ~1) - algo["load_address"]
    for key, value in changed_bytes.items():
        code[base + int(key.removeprefix("at_"), 16)] = value
    words = [int.from_bytes(code[i : i + 4], "little") for i in range(0, len(code), 4)]
    return {**algo, "instructions": words}


# ---------------------------------------------------------------------- the proof and the plan
def test_only_pyocds_nrf52_program_page_word_loop_is_coalesced() -> None:
    assert program_page_is_word_loop(NRF52840_ALGO)
    assert program_page_is_word_loop(NRF52832_ALGO)  # byte-identical routine
    # lsrs r6, r1, #2 -> #3: a loop over size/8 words, no longer one word per 4 bytes
    assert not program_page_is_word_loop(with_words(NRF52840_ALGO, at_0x04=0xCE))
    # the literal it takes NVMC.READY's address from (0x4001E400) changed
    assert not program_page_is_word_loop(with_words(NRF52840_ALGO, at_0x59=0xE5))
    # the watchdog feed it calls while it waits (must leave r4-r6 alone) changed
    assert not program_page_is_word_loop(with_words(NRF52840_ALGO, at_0x30=0x00))
    assert not program_page_is_word_loop({**NRF52840_ALGO, "pc_program_page": NRF52840_ALGO["pc_erase_sector"]})
    assert not program_page_is_word_loop({**NRF52840_ALGO, "pc_program_page": NRF52840_ALGO["pc_program_page"] + 4})
    assert len(NRF52_PROGRAM_PAGE) == 0x70


def test_the_run_buffers_lie_above_everything_the_algorithm_and_pyocd_put_in_ram() -> None:
    plan = plan_runs(NRF52840_ALGO, *RAM, NRF_PAGE_SIZE, timeout=TIMEOUT, page_weight=WEIGHT)
    assert plan is not None
    a = NRF52840_ALGO
    taken = [
        (a["load_address"], a["load_address"] + 4 * len(a["instructions"])),  # code
        (a["static_base"], a["begin_stack"]),  # static data and the stack growing down to it
        *((b, b + NRF_PAGE_SIZE) for b in a["page_buffers"]),  # pyocd's page buffers (CRC input too)
        (a["analyzer_address"], a["analyzer_address"] + ANALYZER_SIZE),  # the verify's CRC analyzer
    ]
    runs = [(b, b + plan.run_bytes) for b in plan.buffers]
    for lo, hi in runs:
        assert RAM[0] <= lo and hi <= RAM[1] and lo % NRF_PAGE_SIZE == 0
        assert not any(lo < t_hi and t_lo < hi for t_lo, t_hi in taken)
    assert runs[0][1] <= runs[1][0]  # the two buffers do not overlap each other
    assert plan.buffers[0] == 0x20005000  # the first page boundary above the analyzer's 0x600 bytes
    assert plan.pages == (RAM[1] - 0x20005000) // (2 * NRF_PAGE_SIZE) == 29


def test_too_little_ram_or_time_or_an_unknown_layout_means_page_by_page() -> None:
    a = NRF52840_ALGO
    # RAM ending just past the analyzer: no room for two runs of two pages
    assert plan_runs(a, RAM[0], 0x20004600 + 3 * NRF_PAGE_SIZE, NRF_PAGE_SIZE, timeout=TIMEOUT, page_weight=WEIGHT) is None
    # an algorithm dict whose analyzer sits at the top of RAM: nothing above it is known to be free
    top = {**a, "analyzer_address": RAM[1] - ANALYZER_SIZE}
    assert plan_runs(top, *RAM, NRF_PAGE_SIZE, timeout=TIMEOUT, page_weight=WEIGHT) is None
    # a page buffer outside the RAM region, a static base above the stack (data of unknown size)
    assert plan_runs({**a, "page_buffers": [0x10000000, 0x20003000]}, *RAM, NRF_PAGE_SIZE, timeout=TIMEOUT, page_weight=WEIGHT) is None
    assert plan_runs({**a, "static_base": 0x20030000}, *RAM, NRF_PAGE_SIZE, timeout=TIMEOUT, page_weight=WEIGHT) is None
    # begin_data, when the dict gives it, is kept clear as pyocd's page buffers are
    with_data = plan_runs({**a, "begin_data": 0x20010000}, *RAM, NRF_PAGE_SIZE, timeout=TIMEOUT, page_weight=WEIGHT)
    assert with_data is not None and with_data.buffers[0] >= 0x20010000 + 2 * NRF_PAGE_SIZE
    # a run's estimated time stays within half the program timeout: 1 s of timeout, 3 pages at most
    assert plan_runs(a, *RAM, NRF_PAGE_SIZE, timeout=1.0, page_weight=WEIGHT) == RunPlan(
        buffers=(0x20005000, 0x20005000 + 3 * NRF_PAGE_SIZE), pages=3, page_size=NRF_PAGE_SIZE
    )
    assert plan_runs(a, *RAM, NRF_PAGE_SIZE, timeout=0.5, page_weight=WEIGHT) is None
    # another algorithm's ProgramPage: not proven, so page by page however much RAM there is
    assert plan_runs(with_words(a, at_0x04=0xCE), *RAM, NRF_PAGE_SIZE, timeout=TIMEOUT, page_weight=WEIGHT) is None


# ---------------------------------------------------------------------- against twins
def test_runs_write_the_same_flash_and_verify_the_same_with_far_fewer_algorithm_calls(bench: Bench) -> None:
    on, off = bench.create(2, seed=81, blank=True)
    results = {}
    for twin, coalesce in ((on, True), (off, False)):
        with PyocdSwdLink(uid(twin)) as link:
            flash = flash_of(link)
            flash.coalesce = coalesce
            with program_calls(flash) as calls:
                report = link.program(full_set())
            results[coalesce] = (report, calls)
    (run_report, run_calls), (page_report, page_calls) = results[True], results[False]
    assert bytes(on.flash) == bytes(off.flash) and bytes(on.uicr) == bytes(off.uicr)
    assert all(bytes(on.flash[i.address : i.end]) == i.data for i in full_set())
    assert run_report.verified and page_report.verified
    assert run_report.details["pages_programmed"] == page_report.details["pages_programmed"] == len(page_calls)
    assert all(size == NRF_PAGE_SIZE for _, size, _ in page_calls)
    # every page pyocd decided to program, once, in the same order
    pages = lambda calls: [a + off for a, size, _ in calls for off in range(0, size, NRF_PAGE_SIZE)]  # noqa: E731
    assert pages(run_calls) == pages(page_calls)
    assert len(run_calls) <= len(page_calls) // 10
    assert max(size for _, size, _ in run_calls) == 29 * NRF_PAGE_SIZE
    assert len({buf for _, _, buf in run_calls}) == 2  # double buffered


def test_a_smart_reflash_in_runs_programs_only_what_differs(bench: Bench) -> None:
    (twin,) = bench.create(1, seed=82, blank=True)
    images = full_set()
    with PyocdSwdLink(uid(twin)) as link:
        flash = flash_of(link)
        link.program(images)
        changed = bytearray(images[2].data)
        changed[0x5000 : 0x5000 + 3 * NRF_PAGE_SIZE] = bytes(3 * NRF_PAGE_SIZE)  # three pages differ
        new = FlashImage(images[2].address, bytes(changed), images[2].label)
        with program_calls(flash) as calls:
            report = link.program([new], erase=EraseStrategy.SECTOR)
    assert report.verified and report.details["pages_programmed"] == 3
    assert sum(size for _, size, _ in calls) == 3 * NRF_PAGE_SIZE and len(calls) <= 2
    assert bytes(twin.flash[new.address : new.end]) == new.data


def test_an_algorithm_dict_leaving_no_ram_for_runs_programs_page_by_page(bench: Bench) -> None:
    (twin,) = bench.create(1, seed=83, blank=True)
    with PyocdSwdLink(uid(twin)) as link:
        flash = flash_of(link)
        # the analyzer moved to the top of RAM (still where pyocd can load it for the verify's CRCs)
        flash.flash_algo = {**flash.flash_algo, "analyzer_address": RAM[1] - ANALYZER_SIZE}
        flash._plan = False  # plan again from this dict
        assert flash.run_plan() is None
        with program_calls(flash) as calls:
            report = link.program(full_set())
    assert report.verified
    assert len(calls) == report.details["pages_programmed"] and all(size == NRF_PAGE_SIZE for _, size, _ in calls)
    assert all(bytes(twin.flash[i.address : i.end]) == i.data for i in full_set())


def test_a_stuck_cell_inside_a_run_is_a_verify_error_naming_its_address(bench: Bench) -> None:
    (twin,) = bench.create(1, seed=84)
    img = demo_images()["system-part1"]
    stuck = img.address + 0x9344  # the tenth page of the image: inside a run, not its first page
    twin.set_faults(stuck_word=stuck)
    with PyocdSwdLink(uid(twin)) as link:
        with program_calls(flash_of(link)) as calls, pytest.raises(VerifyError, match=f"{stuck:#010x}") as info:
            link.program([img])
    assert any(a < stuck < a + size and size > NRF_PAGE_SIZE and a <= stuck - NRF_PAGE_SIZE for a, size, _ in calls)
    err = info.value
    assert err.address == stuck
    assert err.expected == img.data[stuck - img.address : stuck - img.address + len(err.expected)]
    assert err.actual == bytes(twin.flash[stuck : stuck + len(err.actual)])


def test_a_cable_pulled_in_the_middle_of_a_run_is_device_gone_and_a_replug_finishes(bench: Bench) -> None:
    (twin,) = bench.create(1, seed=85, blank=True)
    images = full_set()
    twin.set_faults(unplug_after_bytes=200_000)
    with PyocdSwdLink(uid(twin)) as link:
        with program_calls(flash_of(link)) as calls, pytest.raises(DeviceGone):
            link.program(images)
    assert not twin.state.plugged and twin.events.kinds()[-1] == "unplug"
    assert calls and calls[-1][1] > NRF_PAGE_SIZE  # the pull came during a multi-page call
    twin.set_faults(unplug_after_bytes=None)
    bench.plug(twin.name)
    with PyocdSwdLink(uid(twin)) as link:
        assert link.program(images).verified
    assert all(bytes(twin.flash[i.address : i.end]) == i.data for i in images)
