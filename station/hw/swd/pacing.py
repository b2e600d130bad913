"""Wait for a flash algorithm call without polling through the time it is known to take.

pyocd runs each flash algorithm function (program a page, erase a sector, compute CRCs) by
writing the core's registers and resuming it, then ``Flash.wait_for_completion`` reads DHCSR in a
tight loop until the core halts on the return breakpoint (``pyocd/flash/flash.py``). Every read is
a probe transfer: on a remote probe two round trips, on a USB CMSIS-DAP probe one command and its
answer. A 4 KB page program (1024 NVMC word writes, 41 µs each at most on an nRF52840) or a sector
erase (85 ms) is therefore polled tens of times per call on a real probe (a round trip is about a
millisecond), for ~270 algorithm calls a device, all of it CPU spent learning the chip is still busy.
The twins cannot show this: their poll that finds the core halted waits out the NVMC time itself
(``station/sim/chip.py`` ``ppb_read``), so against them pyocd polls once per call either way.

This wrapper keeps pyocd's own calls and its own wait, and only sleeps before the wait until
:data:`FRACTION` of the shortest time a call of the same kind took earlier in this session has
passed since the core was resumed.

A call's time is taken from the resume to the *start* of the first ``get_state`` poll that finds
the core halted, not to the end of pyocd's wait. After that poll ``wait_for_completion`` still
reads the stack canary (``read32(end_stack)``) and ``r0`` (``read_core_register``): two more probe
transfers, and the halting poll's own round trip is a third. Counting them, a call that is over
before the first poll (init, uninit: a few ms on a real probe, almost all of it those transfers)
would teach ~3 round trips, and the next such call would sleep 0.8 of that after the core had
halted, nearly doubling it. The start of the halting poll is the end of the last poll that found
the core running, so the core was still busy then: sleeping to 0.8 of it cannot pass the halt if
the call takes as long again. A call already halted at its first poll (init, uninit; a page run
whose wait only began once the host had loaded a longer next run into the other page buffer) shows
only that it took at most that long: that may lower what is known of its kind but is never its
first figure, so a kind that is always over by its first poll is never slept on, which is right,
since no poll of it can be saved. What it learns stays with the session's flash object: a new
board in the slot opens a new session and starts from nothing, and a call that turns out faster
than before only means a later first poll, never a skipped one. Sleeping releases the GIL.

From that first poll on, polls of a call of a known kind are spaced at least :data:`SPACING` of
its shortest duration apart (from the start of one to the start of the next). pyocd's loop polls
as fast as the probe answers: a USB probe's round trip (~1 ms) already spaces them more than that,
so nothing changes there, but pyocd's remote probe server on the same machine answers in ~0.25 ms,
and the last 20 % of a 42 ms page program was ~29 polls, each two requests: over half of a
device's ~26,000 requests, all station CPU (``bench/remote_requests.py --by-call``). Spaced, that
window is at most ``(1 - FRACTION) / SPACING`` = 10 polls when the call takes as long as before,
and the halt is seen at most ``SPACING`` of the call (0.8 ms of a page program) later, only on a
probe answering faster than that. A call of a kind not known yet (the first of its kind in a
session) has its polls spaced at least :data:`UNKNOWN_SPACING` apart: a USB probe's round trip is
that already, but against a remote probe server on the same machine the session's first page
program was ~270 polls (~540 requests, an eighth of a device's once its pages go in runs), and its
halt is seen at most that much later, once per kind and session. A call over by its first poll
(init) is not slowed: there is no second poll.

The algorithm's ``ProgramPage`` is learnt per byte, not per kind (:meth:`Pacer.per_byte`): the
station programs runs of consecutive pages in one call (:mod:`.runs`), of many sizes, and a size
not seen before would otherwise be polled unpaced for its whole duration (a 29-page run: 1.2 s).
That routine is a loop of one NVMC word write per 4 bytes (``runs.program_page_is_word_loop``), so
its time is its size times the time per byte, and a ratio that holds for one size holds for any:
the shortest seconds per byte seen, times the call's size, is as safe an estimate as today's
shortest time of the same size. Both page buffers share it (the buffer address is left out). Only
calls of at least a flash page teach or use it: a call's time is the NVMC's plus about one poll's
round trip, and in a call of a few words (a UICR word: 4 bytes) that round trip is nearly all of
it, so scaled up it would promise a page run seconds it does not take; smaller calls are learnt per
kind as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyocd.core.target import Target

#: of the shortest earlier duration of the same call: the margin covers the spread between calls
#: (a real chip's NVMC is faster than its maximum figures, and not always by the same amount)
FRACTION = 0.8

#: of the shortest earlier duration of the same call: the least time from one poll's start to the
#: next's inside a paced wait (a probe slower than that is never slowed down)
SPACING = 0.02

#: seconds from one poll's start to the next's inside the wait of a call of a kind not known yet
UNKNOWN_SPACING = 0.001

#: a call's kind: the function's address and its size/operation arguments (r1, r2); r0 (the
#: address a page or sector is at) is left out so that every page program shares what is learnt
#: (a per-byte entry point's kind is its address alone: :meth:`Pacer.per_byte`)
Kind = tuple[int, int | None, int | None]


class Pacer:
    """What one flash object's calls took: for each kind, the shortest time from the resume to the
    start of the poll that found the core halted (see the module docstring for why the start)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.shortest: dict[Kind, float] = {}
        self._kind: Kind | None = None
        self._started = 0.0
        self._waiting = False
        self._halt_seen_at: float | None = None
        self._polls_in_wait = 0
        self._halted_at_first = False
        self._spacing = 0.0
        self._last_poll: float | None = None
        #: entry points whose duration is proportional to their size argument (r1), learnt per byte
        #: from calls of at least the size given here (see the module docstring)
        self.scaled: dict[int, int] = {}
        self._size = 1
        #: for the record, not for decisions: seconds slept instead of polling, ``get_state``
        #: polls made inside pyocd's waits, and the waits that ended with the core halted
        self.slept_s = 0.0
        self.polls = 0
        self.completed = 0

    def per_byte(self, pc: int, min_size: int) -> None:
        """Calls at ``pc`` take time in proportion to their size (r1): learn seconds per byte from
        those of at least ``min_size`` bytes (smaller ones are kinds of their own)."""
        self.scaled[pc] = min_size

    def started(self, kind: Kind) -> None:
        """The core was resumed into a call of ``kind``."""
        pc, size, _ = kind
        if pc in self.scaled and size is not None and size >= max(1, self.scaled[pc]):
            kind, self._size = (pc, None, None), size
        else:
            self._size = 1
        self._kind = kind
        self._started = self.clock()
        self._halt_seen_at = None

    def before_wait(self, timeout: float | None) -> float | None:
        """Sleep through the part of the call that is known to be busy; return the wait's timeout
        less that sleep, so the call's deadline stays where pyocd put it."""
        self._waiting = self._kind is not None
        known = self.shortest.get(self._kind) if self._kind is not None else None
        if known is not None:
            known *= self._size
        self._last_poll = None
        self._polls_in_wait = 0
        self._halted_at_first = False
        self._spacing = UNKNOWN_SPACING if known is None else SPACING * known
        if known is None:
            return timeout
        pause = self._started + FRACTION * known - self.clock()
        if pause <= 0:
            return timeout
        if timeout is not None:
            pause = min(pause, timeout / 2)  # pyocd's own wait keeps at least half its time
        self.sleep(pause)
        self.slept_s += pause
        return None if timeout is None else timeout - pause

    def before_poll(self) -> None:
        """A ``get_state`` is about to start: inside a paced wait, not sooner than :data:`SPACING`
        of the call's known duration after the previous poll started."""
        if not self._waiting:
            return
        if self._spacing > 0 and self._last_poll is not None:
            pause = self._last_poll + self._spacing - self.clock()
            if pause > 0:
                self.sleep(pause)
                self.slept_s += pause
        self._last_poll = self.clock()

    def polled(self, began: float, halted: bool) -> None:
        """A ``get_state`` that began at ``began`` answered; only polls inside a paced wait count
        (the same target's state is read elsewhere too: halts, resets)."""
        if not self._waiting:
            return
        self.polls += 1
        self._polls_in_wait += 1
        if halted and self._halt_seen_at is None:
            self._halt_seen_at = began
            self._halted_at_first = self._polls_in_wait == 1

    def finished(self, completed: bool) -> None:
        """The wait returned; a completed call teaches how long its kind takes (a timed-out one does not)."""
        kind, self._kind, self._waiting = self._kind, None, False
        if kind is None or not completed:
            return
        self.completed += 1
        if self._halt_seen_at is None:  # completed without a poll through this target: nothing learnt
            return
        if self._halted_at_first and kind not in self.shortest:  # an upper bound, not a first figure
            return
        took = max(0.0, self._halt_seen_at - self._started) / self._size
        if took < self.shortest.get(kind, float("inf")):
            self.shortest[kind] = took


def pace(flash: Any, pacer: Pacer | None = None) -> Pacer:
    """Pace ``flash`` (a pyocd ``Flash``): its ``_call_function`` marks the start of a call, its
    target's ``get_state`` marks the poll that saw the halt, its ``wait_for_completion`` sleeps
    first and spaces its polls (see the module docstring). ``pacer`` brings its own clock and sleep (tests drive a
    virtual clock). Idempotent per flash object: a second call returns the first pacer."""
    existing = getattr(flash, "_station_pacer", None)
    if isinstance(existing, Pacer):
        return existing
    pacer = pacer if pacer is not None else Pacer()
    plain_call = flash._call_function
    plain_wait = flash.wait_for_completion
    target = flash.target
    plain_state = target.get_state

    def call_function(pc: int, r0: int | None = None, r1: int | None = None, r2: int | None = None,
                      r3: int | None = None, init: bool = False) -> None:
        plain_call(pc, r0, r1, r2, r3, init)
        pacer.started((pc, r1, r2))

    def get_state() -> Any:
        pacer.before_poll()
        began = pacer.clock()
        state = plain_state()
        pacer.polled(began, state == Target.State.HALTED)
        return state

    def wait_for_completion(timeout: float | None = None) -> Any:
        completed = False
        try:
            result = plain_wait(timeout=pacer.before_wait(timeout))
            completed = result != flash.TIMEOUT_ERROR
            return result
        finally:
            pacer.finished(completed)

    flash._call_function = call_function
    flash.wait_for_completion = wait_for_completion
    target.get_state = get_state
    flash._station_pacer = pacer
    algo = getattr(flash, "flash_algo", None)
    region = getattr(flash, "region", None)
    if isinstance(algo, dict) and "pc_program_page" in algo and region is not None:
        pacer.per_byte(algo["pc_program_page"], region.page_size)
    return pacer


def knows_per_byte(flash: Any, pc: int) -> bool:
    """Whether ``flash`` is paced and its pacer has learnt the time per byte of calls at ``pc``."""
    pacer = getattr(flash, "_station_pacer", None)
    return isinstance(pacer, Pacer) and (pc, None, None) in pacer.shortest


def paced(flash: Any) -> bool:
    """Whether ``flash`` waits through a :class:`Pacer`."""
    return isinstance(getattr(flash, "_station_pacer", None), Pacer)
