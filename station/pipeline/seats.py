"""Line mode: a unit seated in a fixture slot whose probe never leaves starts that slot.

A probe arriving on USB is not how a line works: the fixture's probe stays, the operator takes a
unit out and seats the next. :class:`SeatWatch` polls each idle slot's target through its probe
(:func:`station.hw.swd.presence.target_answers`, one DP IDR read) and reports a unit *appearing*:
absent (no ACK) and then present. A slot whose run just ended does not restart on the unit still
in it: :meth:`SeatWatch.finished` marks it present, so only taking it out and seating one starts.

The poll never touches a probe while a run owns it: ``busy`` is asked, and the check made, under
``guard``, the lock the session also holds while it hands a slot to a run. It costs one probe
open, a few SWJ sequences and one DP read per slot per ``interval`` (0.5 s: 2 Hz), on one thread
that stops with the watcher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from station.hw.hotplug import Poller

LOG = logging.getLogger(__name__)

Check = Callable[[str], "bool | None"]


class SeatWatch(Poller):
    """Per probe: the target's last answer, and whether it went from absent to present."""

    thread_name = "seat-watch"
    poll_first = False  # the first check one interval after start, as before

    def __init__(self, check: Check, keys: Callable[[], Iterable[str]], busy: Callable[[str], bool],
                 on_seated: Callable[[str], None], *, guard: threading.Lock | None = None,
                 interval: float = 0.5) -> None:
        self.check = check
        self.keys = keys  # the probes present now (the hotplug watcher's view)
        self.busy = busy  # a run owns the slot of this probe
        self.on_seated = on_seated
        self.guard = guard or threading.Lock()
        self.interval = interval
        self._present: dict[str, bool] = {}
        self._lock = threading.Lock()
        super().__init__()
        self.checks = 0  # target checks made (for the CPU figure per check)

    def finished(self, key: str) -> None:
        """A run ended on this slot: its unit counts as still there until a poll sees it gone."""
        with self._lock:
            self._present[key] = True

    def forget(self, key: str) -> None:
        """The probe left: what its target said no longer holds."""
        with self._lock:
            self._present.pop(key, None)

    def seen(self, key: str, present: bool) -> None:
        with self._lock:
            self._present[key] = present

    def poll(self) -> list[str]:
        """One pass over the idle slots; returns (and reports) the probes a unit was seated behind."""
        seated = []
        for key in list(self.keys()):
            with self.guard:
                if self.busy(key):
                    continue
                answer = self.check(key)
                self.checks += 1
            if answer is None:
                continue  # could not ask: what it said last stands
            with self._lock:
                before = self._present.get(key)
                self._present[key] = answer
            if answer and before is False:
                seated.append(key)
        for key in seated:
            try:
                self.on_seated(key)
            except Exception:
                LOG.exception("starting the slot of probe %s failed", key)
        return seated
