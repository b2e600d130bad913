"""Waiting for a flash algorithm call: fewer DHCSR polls once a call's duration is known, never a late answer."""

from __future__ import annotations

import time

from station.hw.swd import PyocdSwdLink
from station.hw.swd.pacing import pace
from station.sim.bench import Bench


class WallClockFlash:
    """pyocd's ``Flash`` as far as pacing sees it: a call runs for ``busy_s`` of wall time after the
    resume, and ``wait_for_completion`` polls the core's state in a tight loop, as pyocd's does."""

    TIMEOUT_ERROR = 0xFFFFFFFF

    def __init__(self, busy_s: float) -> None:
        self.busy_s = busy_s
        self.polls = 0
        self._done_at = 0.0

    def _call_function(self, pc: int, r0: int | None = None, r1: int | None = None, r2: int | None = None,
                       r3: int | None = None, init: bool = False) -> None:
        self._done_at = time.monotonic() + self.busy_s

    def wait_for_completion(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            self.polls += 1
            if time.monotonic() >= self._done_at:
                return 0
            time.sleep(0.0005)  # one probe round trip
        return self.TIMEOUT_ERROR


def _program_pages(flash: WallClockFlash, pages: int) -> list[float]:
    late = []
    for page in range(pages):
        flash._call_function(0x20000100, page * 4096, 4096, 0x20003000)
        assert flash.wait_for_completion(timeout=5.0) == 0
        late.append(time.monotonic() - flash._done_at)
    return late


def test_after_the_first_call_a_page_program_is_polled_a_few_times_not_throughout() -> None:
    plain = WallClockFlash(busy_s=0.04)
    _program_pages(plain, 5)
    paced = WallClockFlash(busy_s=0.04)
    pacer = pace(paced)
    late = _program_pages(paced, 5)
    assert plain.polls > 5 * 20  # a 40 ms call answers "running" for every round trip
    first = paced.polls
    assert first < plain.polls / 2  # the first call is polled as pyocd polls; the four others barely
    assert max(late) < 0.01  # the end of every call is still seen within a few round trips
    assert pacer.slept_s > 4 * 0.03


def test_a_call_of_a_kind_not_seen_before_is_polled_at_once() -> None:
    flash = WallClockFlash(busy_s=0.05)
    pace(flash)
    _program_pages(flash, 2)
    flash.busy_s = 0.005  # another size: nothing learnt for it, so nothing is slept
    flash._call_function(0x20000100, 0, 1024, 0x20003000)
    t0 = time.monotonic()
    assert flash.wait_for_completion(timeout=5.0) == 0
    assert time.monotonic() - t0 < 0.03


def test_a_session_paces_its_flash_and_still_programs_and_verifies(bench: Bench) -> None:
    from tests.hw.conftest import demo_images

    twin = bench.create(1, seed=61)[0]
    img = demo_images()["user-factory-test"]
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        flash = link.session.target.memory_map.get_region_for_address(0).flash
        report = link.program([img])
        assert report.verified
        assert flash._station_pacer.shortest  # the calls were seen through the pacer
    assert bytes(twin.flash[img.address : img.end]) == img.data
