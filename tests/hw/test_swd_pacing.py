"""Waiting for a flash algorithm call: fewer DHCSR polls once a call's duration is known, never a later halt.

The fakes run on a virtual clock (whole microseconds), so poll counts and slept time are exact and do not
depend on this machine's load; what pacing saves in wall time on a real probe is a bench question."""

from __future__ import annotations

import pytest
from pyocd.core.target import Target

from station.hw.swd import PyocdSwdLink
from station.hw.swd.pacing import Pacer, pace
from station.sim.bench import Bench

RT_US = 1000  # one probe round trip (a USB CMSIS-DAP command and its answer, ~1 ms)


class VirtualClock:
    def __init__(self) -> None:
        self.us = 0

    def now(self) -> float:
        return self.us / 1e6

    def sleep(self, s: float) -> None:
        self.us += round(s * 1e6)


class FakeTarget:
    """A core that runs a flash call until ``done_us``; every probe transfer costs one round trip, and a
    DHCSR read samples the core's state when it starts."""

    def __init__(self, clock: VirtualClock, rt_us: int = RT_US) -> None:
        self.clock = clock
        self.rt_us = rt_us
        self.done_us = 0
        self.polls = 0
        self.sampled_us = 0  # when the last DHCSR read sampled the core

    def get_state(self) -> Target.State:
        self.polls += 1
        self.sampled_us = self.clock.us
        halted = self.clock.us >= self.done_us
        self.clock.us += self.rt_us
        return Target.State.HALTED if halted else Target.State.RUNNING

    def read(self) -> int:
        self.clock.us += self.rt_us
        return 0


class FakeFlash:
    """pyocd's ``Flash`` as far as pacing sees it (pyocd 0.46 ``flash.py``): ``_call_function`` resumes
    the core; ``wait_for_completion`` polls ``target.get_state()`` in a tight loop until HALTED, then
    reads the stack canary and r0 (two more transfers)."""

    TIMEOUT_ERROR = 0xFFFFFFFF

    def __init__(self, clock: VirtualClock, rt_us: int = RT_US) -> None:
        self.clock = clock
        self.target = FakeTarget(clock, rt_us)
        self.busy_us = 0
        self.late_us: list[int] = []  # per call: from the core's halt to the poll that sampled it

    def _call_function(self, pc: int, r0: int | None = None, r1: int | None = None, r2: int | None = None,
                       r3: int | None = None, init: bool = False) -> None:
        self.target.done_us = self.clock.us + self.busy_us

    def wait_for_completion(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else self.clock.us + round(timeout * 1e6)
        while deadline is None or self.clock.us < deadline:
            if self.target.get_state() == Target.State.HALTED:
                self.late_us.append(self.target.sampled_us - self.target.done_us)
                self.target.read()  # stack canary
                return self.target.read()  # r0
        return self.TIMEOUT_ERROR


def _flash(paced: bool, rt_us: int = RT_US) -> tuple[FakeFlash, Pacer | None]:
    clock = VirtualClock()
    flash = FakeFlash(clock, rt_us)
    return flash, (pace(flash, Pacer(clock=clock.now, sleep=clock.sleep)) if paced else None)


def _call(flash: FakeFlash, busy_us: int, size: int = 4096, timeout: float = 5.0) -> tuple[int, int]:
    """One algorithm call as pyocd makes it: its DHCSR polls and its virtual time (resume to the end of the wait)."""
    polls = flash.target.polls
    flash.busy_us = busy_us
    flash._call_function(0x20000100, 0, size, 0x20003000)
    start = flash.clock.us
    assert flash.wait_for_completion(timeout=timeout) == 0
    return flash.target.polls - polls, flash.clock.us - start


def test_after_the_first_page_program_each_is_polled_from_0_8_of_its_time_and_seen_as_soon() -> None:
    plain, _ = _flash(paced=False)
    paced, pacer = _flash(paced=True)
    assert pacer is not None
    plain_calls = [_call(plain, busy_us=40_000) for _ in range(5)]
    paced_calls = [_call(paced, busy_us=40_000) for _ in range(5)]
    # unpaced, a 40 ms call answers "running" every round trip: polls at 0, 1, ... 40 ms
    assert [polls for polls, _ in plain_calls] == [41] * 5
    # paced: the first call teaches 40 ms; each later one sleeps 32 ms and polls at 32 ... 40 ms
    assert [polls for polls, _ in paced_calls] == [41, 9, 9, 9, 9]
    assert pacer.slept_s == pytest.approx(4 * 0.032)
    assert pacer.polls == 41 + 4 * 9 and pacer.completed == 5
    # and no call ends later than unpaced: the halt is sampled the moment it happens, every time
    assert paced.late_us == plain.late_us == [0] * 5
    assert [took for _, took in paced_calls] == [took for _, took in plain_calls] == [43_000] * 5


def test_a_probe_that_answers_fast_is_polled_at_most_every_2_percent_of_the_call() -> None:
    """pyocd's remote probe server on the same machine answers in ~0.1-0.3 ms: unpaced, a 40 ms page
    program is 400 polls; paced, the 20 % after the sleep is polled every 0.8 ms (SPACING of 40 ms),
    and the halt is seen at most that much later. A probe slower than the spacing (the test above:
    1 ms) is never slowed down."""
    plain, _ = _flash(paced=False, rt_us=100)
    paced, pacer = _flash(paced=True, rt_us=100)
    assert pacer is not None
    plain_calls = [_call(plain, busy_us=40_000) for _ in range(5)]
    paced_calls = [_call(paced, busy_us=40_000) for _ in range(5)]
    assert [polls for polls, _ in plain_calls] == [401] * 5
    # the first call (nothing learnt yet) is polled every 1 ms (UNKNOWN_SPACING), not every 0.1 ms;
    # then one poll at 32 ms and every 0.8 ms to 40 ms
    assert [polls for polls, _ in paced_calls] == [41, 11, 11, 11, 11]
    assert paced.late_us == plain.late_us == [0] * 5  # 40 ms is a whole number of spacings after 32 ms
    paced_late = [_call(paced, busy_us=40_500)[1] for _ in range(3)]
    plain_late = [_call(plain, busy_us=40_500)[1] for _ in range(3)]
    # a call 0.5 ms longer: its halt falls between two spaced polls, seen at most 0.8 ms late
    assert all(0 < late <= 800 for late in paced.late_us[5:])
    assert plain.late_us[5:] == [0] * 3
    assert all(p - q <= 800 for p, q in zip(paced_late, plain_late, strict=True))


def test_a_call_of_an_unknown_kind_is_seen_at_most_1_ms_late_on_a_fast_probe() -> None:
    flash, pacer = _flash(paced=True, rt_us=100)
    assert pacer is not None
    polls, _ = _call(flash, busy_us=40_500)
    assert polls == 42 and 0 < flash.late_us[-1] <= 1_000  # polls at 0, 1, ... 40, 41 ms: halt at 40.5


def test_a_call_over_before_its_first_poll_is_never_slept_on() -> None:
    """init/uninit: pyocd's wait is one poll that finds the core halted, then the canary and r0 reads.
    Timed to the end of the wait this taught 3 round trips, and each later init slept 2.4 of them
    after the halt (5.4 ms instead of 3); timed to the start of the halting poll it teaches 0."""
    plain, _ = _flash(paced=False)
    paced, pacer = _flash(paced=True)
    assert pacer is not None
    # the algorithm's init runs for microseconds, done before the resume's own transfer is answered
    plain_calls = [_call(plain, busy_us=0, size=0) for _ in range(4)]
    paced_calls = [_call(paced, busy_us=0, size=0) for _ in range(4)]
    assert paced_calls == plain_calls == [(1, 3 * RT_US)] * 4
    assert pacer.slept_s == 0
    assert pacer.shortest == {}  # halted at its first poll: "at most that long" is no figure to sleep on


def test_a_call_found_over_at_its_first_poll_teaches_no_first_figure() -> None:
    """The host loaded a long next run into the other page buffer before it began to wait (the
    station's run programming, station/hw/swd/runs.py): the call ended long before its first poll,
    which says only that it took at most that long. Learnt, it would sleep 0.8 of it on the next
    call of the kind, past that call's halt."""
    flash, pacer = _flash(paced=True)
    assert pacer is not None
    flash.busy_us = 40_000
    flash._call_function(0x20000100, 0, 4096, 0x20003000)
    flash.clock.us += 350_000  # the host's load of the next buffer
    assert flash.wait_for_completion(timeout=5.0) == 0
    assert pacer.shortest == {}
    polls, _ = _call(flash, busy_us=40_000)  # so the next call is polled from the start, as unpaced
    assert polls == 41 and flash.late_us[-1] == 0
    assert pacer.shortest == {(0x20000100, 4096, 0x20003000): pytest.approx(0.040)}
    flash._call_function(0x20000100, 0, 4096, 0x20003000)  # once known, such a call may only lower it
    flash.busy_us = 30_000
    flash.target.done_us = flash.clock.us + 30_000
    flash.clock.us += 350_000
    assert flash.wait_for_completion(timeout=5.0) == 0
    assert pacer.shortest == {(0x20000100, 4096, 0x20003000): pytest.approx(0.040)}  # 0.35 s "at most": kept


def test_program_page_is_learnt_per_byte_so_a_run_of_29_pages_is_paced_after_one_page() -> None:
    """The station programs runs of consecutive pages in one ProgramPage call (its time: one NVMC
    word write per 4 bytes). One page teaches the time per byte; a 29-page call is then slept on
    from 0.8 of 29 times that and polled every 2 % of it, and its halt is seen as soon as unpaced."""
    flash, pacer = _flash(paced=True)
    assert pacer is not None
    pacer.per_byte(0x20000100, 4096)
    assert _call(flash, busy_us=40_000) == (41, 43_000)  # nothing known: polled at once
    assert pacer.shortest == {(0x20000100, None, None): pytest.approx(0.040 / 4096)}
    polls, took = _call(flash, busy_us=29 * 40_000, size=29 * 4096)
    # slept to 0.8 × 1.16 s = 928 ms, then polls every 23.2 ms (SPACING of 1.16 s) up to the halt
    assert polls == 11 and flash.late_us[-1] == 0
    assert took == 29 * 40_000 + 3 * RT_US
    polls, _ = _call(flash, busy_us=7 * 40_000, size=7 * 4096)  # a shorter run: same rate, scaled
    assert polls == 11 and flash.late_us[-1] == 0


def test_a_call_smaller_than_a_page_does_not_teach_the_rate_per_byte() -> None:
    """A UICR word (4 bytes) takes about one poll's round trip, nearly none of it NVMC time: scaled
    up per byte it would promise a 29-page run 29 × 1024 round trips. It is a kind of its own."""
    flash, pacer = _flash(paced=True)
    assert pacer is not None
    pacer.per_byte(0x20000100, 4096)
    _call(flash, busy_us=1_000, size=4)
    _call(flash, busy_us=1_000, size=4)
    assert (0x20000100, None, None) not in pacer.shortest
    polls, _ = _call(flash, busy_us=29 * 40_000, size=29 * 4096)
    assert polls == 29 * 40 + 1  # unpaced: polled every round trip, never slept past its halt
    assert pacer.slept_s < 0.002


def test_a_call_of_a_kind_not_seen_before_is_polled_at_once() -> None:
    flash, pacer = _flash(paced=True)
    assert pacer is not None
    _call(flash, busy_us=40_000)
    _call(flash, busy_us=40_000)
    slept = pacer.slept_s
    polls, took = _call(flash, busy_us=5_000, size=1024)  # another size: nothing learnt for it
    assert pacer.slept_s == slept
    assert (polls, took) == (6, 8 * RT_US)  # polls at 0 ... 5 ms, as unpaced


def test_pyocd_keeps_at_least_half_of_its_timeout_and_a_timed_out_call_teaches_nothing() -> None:
    flash, pacer = _flash(paced=True)
    assert pacer is not None
    _call(flash, busy_us=40_000)
    flash.busy_us = 40_000
    flash._call_function(0x20000100, 0, 4096, 0x20003000)
    assert flash.wait_for_completion(timeout=0.010) == FakeFlash.TIMEOUT_ERROR
    assert pacer.slept_s == pytest.approx(0.005)  # not 32 ms: half of the 10 ms stays pyocd's
    assert pacer.shortest == {(0x20000100, 4096, 0x20003000): 0.040}


def test_a_session_paces_its_flash_and_still_programs_and_verifies(bench: Bench) -> None:
    from tests.hw.conftest import demo_images

    twin = bench.create(1, seed=61)[0]
    img = demo_images()["user-factory-test"]
    with PyocdSwdLink(twin.identity.probe_uid) as link:
        flash = link.session.target.memory_map.get_region_for_address(0).flash
        report = link.program([img])
        assert report.verified
        pacer = flash._station_pacer
        # every algorithm wait went through the pacer and its polls through the wrapped get_state:
        # at least one call per 4 KB page of the image, each polled at least once and seen halted
        pages = -(-len(img.data) // 4096)
        assert pacer.completed >= pages
        assert pacer.polls >= pacer.completed
        # (a fast twin's calls are over by their first poll: that teaches no figure to sleep on)
    assert bytes(twin.flash[img.address : img.end]) == img.data
