"""Device time for a twin: what the real hardware would have spent, and (optionally) spending it.

By default a twin runs as fast as the emulation allows, which is what tests want. Benchmarks and
the demo want to see what the *station* costs on top of the hardware, so every face charges the
physical cost of what it does (SWD bits at the probe clock, NVMC word writes and page erases, USB
transfers) to the twin's :class:`DeviceClock`. In realtime mode the clock also sleeps so that wall
time never runs ahead of device time.

Sleeping is anchored, not summed: the emulator's own compute time overlaps the device time it
models (as a real probe's USB round trip overlaps the chip's work), so a twin in realtime mode is
only slower than the hardware when the emulation itself is. If the clock finds itself behind wall
time (the device was idle while the station thought), it re-anchors instead of owing that time.
Sleeps happen in slices of at least 1 ms; sleeping releases the GIL, which is what lets several
twins in one process run in parallel. A thread never sleeps while it holds the twin's lock
(:class:`TwinLock`): the sleep it owes is paid when it lets go, so another face of the same twin (the
serial port, the control requests, a second reader) is not held up by device time that is not its own.
The thread that charged the time still waits for it before it goes on, as its caller would on the
hardware.

Work the target does on its own while the host goes on is charged as *background*: the NVMC
writing a page that a flash algorithm was started on, while pyocd carries the next page into the
algorithm's second RAM buffer (pyocd's flash builder double-buffers: ``_page_program_double_buffer``
in ``pyocd/flash/builder.py``). It occupies the target, not the host; the host meets it again only
when it waits for the target (:meth:`DeviceClock.catch_up`: the poll that finds the core halted, a
reset, a read of flash), and then pays just what is left of it. In realtime mode a poll of the core
meanwhile does not wait (:meth:`DeviceClock.still_busy`): the wall time since the last charge is
credited to the device, and until the work is done the core reads as running, as a real one does
while its flash algorithm waits for the NVMC, so the host polls as often as it would on the hardware.
Any other charge after the host was away (the transfer that sets up a poll, say) credits that wall
time to the background work first, the same way: the device was busy then, not idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Physical costs (nRF52840 product specification v1.7, §4.3.9 NVMC electrical specification).
NVMC_WORD_S = 41e-6
NVMC_PAGE_ERASE_S = 85e-3
NVMC_ERASE_ALL_S = 169e-3
#: One SWD transfer: 8 request + 1 turnaround + 3 ACK + 1 turnaround + 32 data + 1 parity ≈ 46 bits.
SWD_BITS_PER_TRANSFER = 46
DEFAULT_SWD_HZ = 4_000_000
#: USB full speed: 12 Mbit/s raw, a DFU control transfer of 4 KB moves ~ 64 packets + overhead.
USB_FS_BYTES_PER_S = 1_000_000
USB_CONTROL_TRANSFER_S = 1e-3  # one SETUP/DATA/STATUS round in a 1 ms frame

_MIN_SLEEP_S = 1e-3


@dataclass(frozen=True)
class ClockSnapshot:
    """A point in wall and device time; subtract two to measure a job."""

    wall: float
    device: float

    def __sub__(self, other: ClockSnapshot) -> ClockSnapshot:
        return ClockSnapshot(self.wall - other.wall, self.device - other.device)

    @property
    def overhead(self) -> float:
        """Wall time not explained by device time (the station's and the emulator's share)."""
        return self.wall - self.device


class TwinLock:
    """The twin's re-entrant lock, which also holds back the realtime sleeps charged under it.

    Sleeping is anchored to a wall-clock due time, so sleeping after the release instead of inside
    it ends at the same moment for the thread that charged the time; only the lock is free sooner.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            self._local.depth = getattr(self._local, "depth", 0) + 1
        return got

    def release(self) -> None:
        depth = self._local.depth - 1
        self._local.depth = depth
        due = 0.0
        if depth == 0:
            due, self._local.due = getattr(self._local, "due", 0.0), 0.0
        self._lock.release()
        if due:
            _sleep_until(due)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def defer_sleep(self, due: float) -> bool:
        """If this thread holds the lock, sleep until ``due`` (perf_counter) once it lets go of it."""
        if not getattr(self._local, "depth", 0):
            return False
        self._local.due = max(getattr(self._local, "due", 0.0), due)
        return True


def _sleep_until(due: float) -> None:
    wait = due - time.perf_counter()
    if wait >= _MIN_SLEEP_S:
        time.sleep(wait)


class DeviceClock:
    """Accumulates modelled device time and, in realtime mode, keeps wall time behind it.

    ``hold`` is the twin's lock: a sleep due while the charging thread holds it waits for the release.
    """

    def __init__(
        self, *, realtime: bool = False, slow_factor: Callable[[], float] | None = None, hold: TwinLock | None = None
    ) -> None:
        self.realtime = realtime
        self._hold = hold
        self._slow_factor = slow_factor or (lambda: 1.0)
        self._lock = threading.Lock()
        self._device = 0.0
        self._anchor_wall = time.perf_counter()
        self._anchor_device = 0.0
        self._busy_until = 0.0  # device time until which background work occupies the target

    @property
    def device_seconds(self) -> float:
        return self._device

    def snapshot(self) -> ClockSnapshot:
        return ClockSnapshot(time.perf_counter(), self._device)

    def advance(self, seconds: float) -> None:
        """Charge ``seconds`` of hardware time (scaled by the ``slow_factor`` fault)."""
        if seconds <= 0:
            return
        self._advance(seconds * self._slow_factor())

    def background(self, seconds: float, *, started: float | None = None) -> None:
        """Target work that overlaps what the host does next (scaled like :meth:`advance`).

        ``started`` (perf_counter) is when the target began it; in realtime mode a device that sat
        idle before then is re-anchored there, so that :meth:`still_busy` does not count the idle
        time as work done.
        """
        if seconds <= 0:
            return
        seconds *= self._slow_factor()
        with self._lock:
            self._busy_until = max(self._busy_until, self._device) + seconds
            if self.realtime and started is not None:
                if self._anchor_wall + (self._device - self._anchor_device) < started:
                    self._anchor_wall, self._anchor_device = started, self._device

    def catch_up(self) -> None:
        """The host waits for the target: charge what is left of its background work."""
        with self._lock:
            left = self._busy_until - self._device
        if left > 0:
            self._advance(left)

    def still_busy(self) -> bool:
        """The host polls the target during its background work (realtime mode only).

        The device worked while the host was away, so the wall time since the clock's last charge is
        credited to device time (never beyond the work's end, and never ahead of wall time, so no sleep
        is owed). True while work is left: a real core still runs its flash algorithm then, and the
        debugger's read returns at once instead of waiting. A fast twin answers False and the caller
        catches up as before, so the tests' speed does not change. Work left below the sleep
        granularity counts as done (the caller's catch-up would not sleep for it either).
        """
        if not self.realtime:
            return False
        with self._lock:
            left = self._credit_background(time.perf_counter())
            return left >= _MIN_SLEEP_S

    def _credit_background(self, now: float) -> float:
        """Credit the wall time since the clock's last charge to pending background work (never
        beyond its end); return the work left. Realtime mode, with ``_lock`` held."""
        left = self._busy_until - self._device
        if left <= 0:
            return left
        idle = now - (self._anchor_wall + (self._device - self._anchor_device))
        if idle > 0:
            credit = min(idle, left)
            self._device += credit
            left -= credit
        return left

    def _advance(self, seconds: float) -> None:
        with self._lock:
            if self.realtime:
                # A charge after the host was away while background work ran (a flash algorithm's
                # NVMC writes): the device was busy with that work then, not idle. Credit it first,
                # as a poll would (still_busy); only the rest is idle time the re-anchoring drops.
                self._credit_background(time.perf_counter())
            self._device += seconds
            if not self.realtime:
                return
            now = time.perf_counter()
            due = self._anchor_wall + (self._device - self._anchor_device)
            if due < now - _MIN_SLEEP_S:
                # Behind: the device sat idle, or the emulation is slower than the hardware.
                self._anchor_wall, self._anchor_device = now, self._device
                return
            wait = due - now
        if wait >= _MIN_SLEEP_S and not (self._hold is not None and self._hold.defer_sleep(due)):
            time.sleep(wait)

    # ------------------------------------------------------------------ cost helpers
    def swd_transfers(self, count: int, hz: float) -> None:
        self.advance(count * SWD_BITS_PER_TRANSFER / hz)

    def nvmc_words(self, count: int, *, background: bool = False, started: float | None = None) -> None:
        if background:
            self.background(count * NVMC_WORD_S, started=started)
        else:
            self.advance(count * NVMC_WORD_S)

    def nvmc_page_erase(self, pages: int = 1) -> None:
        self.advance(pages * NVMC_PAGE_ERASE_S)

    def nvmc_erase_all(self) -> None:
        self.advance(NVMC_ERASE_ALL_S)

    def usb_transfer(self, nbytes: int) -> None:
        """A USB full-speed control transfer carrying ``nbytes`` of data (DFU block, control request)."""
        self.advance(USB_CONTROL_TRANSFER_S + nbytes / USB_FS_BYTES_PER_S)
